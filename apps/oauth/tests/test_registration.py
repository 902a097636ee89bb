"""RFC 7591 registration at /api/oauth/register: public clients only, strict redirect URIs."""

from __future__ import annotations

import pytest
import requests
from oauth2_provider.models import get_application_model

from apps.oauth.tests.helpers import authorize_params, consent, exchange, login, pkce_pair, redirect_query
from synchronex.api.ratelimit import wait_in_words

Application = get_application_model()

pytestmark = pytest.mark.django_db(transaction=True)


def post(base_url, body=None, **kwargs):
    return requests.post(f"{base_url}/api/oauth/register", json=body, timeout=30, **kwargs)


def test_registers_a_public_code_flow_client(base_url):
    response = post(base_url, {"client_name": "  Notes Helper ", "redirect_uris": ["https://notes.example.com/cb"]})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_name"] == "Notes Helper"
    assert body["redirect_uris"] == ["https://notes.example.com/cb"]
    assert body["token_endpoint_auth_method"] == "none"
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert "client_secret" not in body
    assert body["registration_client_uri"] == f"{base_url}/api/oauth/register/{body['client_id']}"
    app = Application.objects.get(client_id=body["client_id"])
    assert app.client_type == "public"
    assert app.authorization_grant_type == "authorization-code"
    assert app.registration_source == "dcr"
    assert app.user is None


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost/callback",
        "http://localhost:33418/callback",
        "http://127.0.0.1:8765/cb?x=1",
        "http://[::1]:8080/cb",
        "https://app.example.com/oauth/callback",
    ],
)
def test_accepts_https_and_loopback_http_redirect_uris(base_url, uri):
    response = post(base_url, {"redirect_uris": [uri]})

    assert response.status_code == 201, response.text
    assert response.json()["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://notes.example.com/cb", "plain http"),
        ("http://localhost.evil.example/cb", "plain http"),
        ("http://127.0.0.1.nip.io/cb", "plain http"),
        ("javascript:alert(document.cookie)", "javascript: scheme"),
        ("JavaScript:alert(1)", "javascript: scheme"),
        ("data:text/html,<script>alert(1)</script>", "data: scheme"),
        ("https://notes.example.com/cb#frag", "fragment"),
        ("https://notes.example.com/cb#", "fragment"),
        ("http://127.0.0.1:8765/cb#x", "fragment"),
        ("https://user@notes.example.com/cb", "user information"),
        ("https://notes.example.com/a b", "spaces"),
        ("https://*.example.com/cb", "wildcards"),
        ("com.example.notes:/callback", "must start with https://"),
        ("ftp://notes.example.com/cb", "must start with https://"),
        ("HTTPS://notes.example.com/cb", "must start with https://"),
        ("/relative/callback", "must start with https://"),
        ("https:///cb", "host"),
        ("https://notes.example.com:99999/cb", "not a valid URI"),
        ("", "non-empty"),
        # Never usable (every authorization with them answers "Invalid redirect URI."), or shown
        # on the consent page as a host they do not name.
        ("https://evil.example\\.trusted.example/cb", "backslash"),
        ("https://trusted.example%40evil.example/cb", "% in its host"),
        ("https://notes.example.com/c\\b", "not a valid URI (RFC 3986)"),
        ("https://notes.example.com/cb%zz", "not a valid URI (RFC 3986)"),
    ],
)
def test_refuses_bad_redirect_uris(base_url, uri, why):
    response = post(base_url, {"redirect_uris": ["https://fine.example.com/cb", uri]})

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_redirect_uri"
    assert "redirect_uris[1]" in body["error_description"]
    assert why in body["error_description"]
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    "redirect_uris",
    [None, [], "https://notes.example.com/cb", [42], [f"https://n.example.com/{i}" for i in range(11)]],
)
def test_refuses_missing_or_malformed_redirect_uri_lists(base_url, redirect_uris):
    body = {"client_name": "x"} if redirect_uris is None else {"redirect_uris": redirect_uris}

    response = post(base_url, body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    ("uri", "ascii_form"),
    [
        ("https://bücher.example/cb", "https://xn--bcher-kva.example/cb"),
        ("https://app.example/café?é=1", "https://app.example/caf%C3%A9?%C3%A9=1"),
        ("http://127.0.0.1:8765/rückruf", "http://127.0.0.1:8765/r%C3%BCckruf"),
    ],
    ids=["host", "path and query", "loopback path"],
)
def test_refuses_non_ascii_redirect_uris_naming_their_ascii_form(base_url, uri, ascii_form):
    # Authorization requests compare the URI as sent, so a Unicode one registered could never
    # be used; the client is told the form that works.
    response = post(base_url, {"client_name": "idn", "redirect_uris": [uri]})

    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_redirect_uri"
    assert uri in body["error_description"]
    assert ascii_form in body["error_description"]
    assert not Application.objects.exists()


def test_the_punycode_form_of_an_idn_redirect_uri_registers_and_authorizes(base_url, person):
    uri = "https://xn--bcher-kva.example/cb"
    client = post(base_url, {"client_name": "idn", "redirect_uris": [uri]}).json()
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)

    response = consent(session, base_url, authorize_params(client["client_id"], challenge, redirect_uri=uri))

    assert response.headers["Location"].startswith(uri + "?")
    code = redirect_query(response)["code"]
    assert exchange(base_url, client["client_id"], code, verifier, redirect_uri=uri).status_code == 200


def test_refuses_repeated_redirect_uris(base_url):
    response = post(base_url, {"redirect_uris": ["https://n.example.com/cb", "https://n.example.com/cb"]})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"token_endpoint_auth_method": "client_secret_basic"}, "public clients"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "public clients"),
        ({"grant_types": ["client_credentials"]}, "client_credentials"),
        ({"grant_types": ["authorization_code", "password"]}, "password"),
        ({"grant_types": ["refresh_token"]}, "authorization_code"),
        ({"grant_types": "authorization_code"}, "array"),
        ({"response_types": ["token"]}, "response_types"),
        ({"response_types": ["code", "id_token"]}, "response_types"),
        ({"client_name": 7}, "client_name"),
        ({"client_name": "x" * 101}, "100"),
        ({"client_name": "bad\x00name"}, "control"),
        ({"client_name": "bad\x85name"}, "control"),  # a C1 control, as every other name refuses
        # Bidi controls and invisible characters, as workspace and product names refuse them: the
        # consent page shows this name, and U+202E would reorder the page's own words after it.
        ({"client_name": "Safe Notes\u202e ppA laiciffO"}, "U+202E (right-to-left override)"),
        ({"client_name": "Goo\u200bgle"}, "U+200B (zero width space)"),
        ({"client_name": "Notes\u2066Helper"}, "U+2066"),
    ],
)
def test_refuses_metadata_other_than_a_public_code_client(base_url, extra, why):
    response = post(base_url, {"redirect_uris": ["https://notes.example.com/cb"], **extra})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_client_metadata"
    assert why in body["error_description"]
    assert not Application.objects.exists()


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_refuses_bodies_that_are_not_a_json_object(base_url, raw):
    response = requests.post(
        f"{base_url}/api/oauth/register", data=raw, headers={"Content-Type": "application/json"}, timeout=30
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


def test_ignores_metadata_it_does_not_use(base_url):
    response = post(
        base_url,
        {
            "redirect_uris": ["https://notes.example.com/cb"],
            "logo_uri": "https://notes.example.com/logo.png",
            "contacts": ["dev@example.com"],
            "scope": "memory:read openid",
            "software_id": "notes",
        },
    )

    assert response.status_code == 201
    assert "logo_uri" not in response.json()


def test_other_methods_answer_json_405(base_url):
    response = requests.get(f"{base_url}/api/oauth/register", timeout=30)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_registration_is_throttled_per_ip(base_url, settings):
    settings.OAUTH_REGISTER_RATE = "3/h"
    statuses = [post(base_url, {"redirect_uris": ["https://n.example.com/cb"]}).status_code for _ in range(3)]
    bad = post(base_url, {"redirect_uris": ["javascript:x"]})
    assert statuses == [201, 201, 201]

    assert bad.status_code == 429
    assert bad.json()["error"]["code"] == "RATE_LIMITED"
    # Like every other answer of the OAuth endpoints, the refusal is not for a cache to keep.
    assert (bad.headers.get("Cache-Control"), bad.headers.get("Pragma")) == ("no-store", "no-cache")
    assert Application.objects.count() == 3
    # The message names the wait that Retry-After gives (an hour's window: not "a minute").
    wait = wait_in_words(int(bad.headers["Retry-After"]))
    assert bad.json()["error"]["message"] == f"Too many attempts from this address; wait {wait} and try again."


def test_registration_answers_are_never_cached(base_url):
    # RFC 7591 §3.2.1 / RFC 6749 §5.1: they carry the registration access token.
    created = post(base_url, {"redirect_uris": ["https://notes.example.com/cb"]})
    url = created.json()["registration_client_uri"]
    auth = {"Authorization": f"Bearer {created.json()['registration_access_token']}"}
    named = {"client_id": created.json()["client_id"]}  # RFC 7592 §2.2
    answers = [
        created,
        post(base_url, {"redirect_uris": ["javascript:x"]}),
        requests.get(url, headers=auth, timeout=30),
        requests.get(url, timeout=30),
        requests.put(url, json={**named, "redirect_uris": ["http://evil.example/cb"]}, headers=auth, timeout=30),
        requests.put(url, json={**named, "redirect_uris": ["https://notes.example.com/new"]}, headers=auth, timeout=30),
    ]

    assert [answer.status_code for answer in answers] == [201, 400, 200, 401, 400, 200]
    for answer in answers:
        assert (answer.headers.get("Cache-Control"), answer.headers.get("Pragma")) == ("no-store", "no-cache")


def test_registration_can_be_read_updated_and_deleted_with_its_token(base_url):
    created = post(base_url, {"redirect_uris": ["https://notes.example.com/cb"]}).json()
    url = created["registration_client_uri"]
    auth = {"Authorization": f"Bearer {created['registration_access_token']}"}

    named = {"client_id": created["client_id"]}  # RFC 7592 §2.2

    assert requests.get(url, headers=auth, timeout=30).json()["client_id"] == created["client_id"]
    refused = requests.put(url, json={**named, "redirect_uris": ["http://evil.example/cb"]}, headers=auth, timeout=30)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_redirect_uri"
    assert requests.get(url, timeout=30).status_code == 401
    body = {**named, "redirect_uris": ["https://notes.example.com/new"]}
    updated = requests.put(url, json=body, headers=auth, timeout=30)
    assert updated.status_code == 200, updated.text
    assert Application.objects.get(client_id=created["client_id"]).redirect_uris == "https://notes.example.com/new"
    new_auth = {"Authorization": f"Bearer {updated.json()['registration_access_token']}"}
    assert requests.delete(url, headers=new_auth, timeout=30).status_code == 204
    assert not Application.objects.filter(client_id=created["client_id"]).exists()


def test_an_update_refuses_a_name_with_bidi_controls_too(base_url):
    created = post(base_url, {"client_name": "Notes", "redirect_uris": ["https://notes.example.com/cb"]}).json()
    auth = {"Authorization": f"Bearer {created['registration_access_token']}"}
    body = {
        "client_id": created["client_id"],
        "client_name": "Notes\u202eevil",
        "redirect_uris": ["https://notes.example.com/cb"],
    }

    refused = requests.put(created["registration_client_uri"], json=body, headers=auth, timeout=30)

    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata" and "U+202E" in refused.json()["error_description"]
    assert Application.objects.get(client_id=created["client_id"]).name == "Notes"


@pytest.mark.parametrize("client_id", [None, "another-client", ""])
def test_an_update_must_name_its_own_client_id(base_url, client_id):
    # RFC 7592 §2.2: the body's client_id is required and must be the registration's.
    created = post(base_url, {"redirect_uris": ["https://notes.example.com/cb"]}).json()
    auth = {"Authorization": f"Bearer {created['registration_access_token']}"}
    body = {"redirect_uris": ["https://notes.example.com/new"]}
    if client_id is not None:
        body["client_id"] = client_id

    refused = requests.put(created["registration_client_uri"], json=body, headers=auth, timeout=30)

    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_client_metadata" and "client_id" in refused.json()["error_description"]
    assert refused.headers["Cache-Control"] == "no-store"
    assert Application.objects.get(client_id=created["client_id"]).redirect_uris == "https://notes.example.com/cb"
    # The registration token still works: nothing was issued in its place.
    assert requests.get(created["registration_client_uri"], headers=auth, timeout=30).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nope", "Basic Zm9vOmJhcg=="],
)
@pytest.mark.parametrize(
    "body",
    [
        {"redirect_uris": ["https://notes.example.com/new"]},  # no client_id
        {"client_id": "someone-else", "redirect_uris": ["https://notes.example.com/new"]},
        {"client_id": None, "redirect_uris": ["javascript:x"]},  # the registration's own id, put in below
    ],
)
def test_an_update_without_its_registration_token_is_refused_before_its_body_is_read(base_url, authorization, body):
    # RFC 7592 §2: a missing or invalid registration access token is the RFC 6750 error, whatever the
    # body; a caller without it learns nothing of the metadata rules.
    created = post(base_url, {"redirect_uris": ["https://notes.example.com/cb"]}).json()
    if "client_id" in body and body["client_id"] is None:
        body = {**body, "client_id": created["client_id"]}
    headers = {} if authorization is None else {"Authorization": authorization}

    refused = requests.put(created["registration_client_uri"], json=body, headers=headers, timeout=30)

    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_token"
    assert refused.headers["Cache-Control"] == "no-store"
    assert Application.objects.get(client_id=created["client_id"]).redirect_uris == "https://notes.example.com/cb"
