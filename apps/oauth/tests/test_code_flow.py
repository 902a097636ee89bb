"""The authorization code flow over real HTTP: PKCE S256, exact redirects, single-use codes,
hashed sxo_/sxr_ tokens, rotation with reuse detection, revocation."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import requests
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)

from apps.oauth.tests.helpers import (
    REDIRECT_URI,
    authorize_params,
    consent,
    exchange,
    form_fields,
    login,
    obtain_tokens,
    pkce_pair,
    redirect_query,
    refresh,
    register_client,
)

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()
Application = get_application_model()

pytestmark = pytest.mark.django_db(transaction=True)


def api_get(base_url, token, path="/api/v1/scope"):
    return requests.get(f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_code_flow_issues_prefixed_tokens_stored_only_as_checksums(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], challenge, scope="memory:read decisions:read", state="s-123")

    query = redirect_query(consent(session, base_url, params))
    assert query["state"] == "s-123"
    assert query["iss"] == base_url  # RFC 9207
    response = exchange(base_url, client["client_id"], query["code"], verifier)

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.json()
    assert tokens["access_token"].startswith("sxo_") and len(tokens["access_token"]) == 47
    assert tokens["refresh_token"].startswith("sxr_") and len(tokens["refresh_token"]) == 47
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert set(tokens["scope"].split()) == {"memory:read", "decisions:read"}
    # RFC 9700 token storage: the row holds a SHA-256 checksum, never the token.
    access_row = AccessToken.objects.get(user=person)
    refresh_row = RefreshToken.objects.get(user=person)
    for row, raw in ((access_row, tokens["access_token"]), (refresh_row, tokens["refresh_token"])):
        assert row.token == ""
        assert row.token_checksum == hashlib.sha256(raw.encode()).hexdigest()
        assert raw not in repr(AccessToken.objects.filter(pk=row.pk).values().first())
    assert not Grant.objects.exists()  # the code is gone once used
    assert api_get(base_url, tokens["access_token"]).status_code == 200


def test_authorize_sends_anonymous_users_to_login_first(base_url):
    client = register_client(base_url)
    params = authorize_params(client["client_id"], pkce_pair()[1])

    response = requests.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/?next=/oauth/authorize%3F")


def test_consent_page_names_the_app_host_and_scopes_and_cannot_be_framed(base_url, person):
    client = register_client(base_url, name="Notes <Helper>")
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], scope="memory:read decisions:write")

    page = session.get(f"{base_url}/oauth/authorize", params=params, timeout=30)

    assert page.status_code == 200
    assert "Notes &lt;Helper&gt;" in page.text
    assert "127.0.0.1:8765" in page.text
    assert "Read your Identity Kernel, product states" in page.text
    assert "Record and delete decisions" in page.text
    assert "Search and read your decisions" not in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "csrfmiddlewaretoken" in page.text


def test_consent_post_without_csrf_token_is_refused(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1])
    url = f"{base_url}/oauth/authorize"
    fields = {**params, "allow": "Allow", "scope": "memory:read"}

    response = session.post(url, params=params, data=fields, allow_redirects=False, timeout=30)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert not Grant.objects.exists()


def test_deny_redirects_with_access_denied(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], state="keep-me")

    query = redirect_query(consent(session, base_url, params, allow=False))

    assert query["error"] == "access_denied"
    assert query["state"] == "keep-me"
    assert "code" not in query
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "pkce",
    [
        {},  # no code_challenge at all
        {"code_challenge": "x" * 43, "code_challenge_method": "plain"},
        {"code_challenge": "x" * 43},  # method omitted means plain (RFC 7636 §4.3)
        {"code_challenge": "x" * 43, "code_challenge_method": "S512"},
    ],
)
def test_authorize_refuses_missing_or_non_s256_pkce_before_asking(base_url, person, pkce):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = {**authorize_params(client["client_id"], None, state="st"), **pkce}

    response = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    query = redirect_query(response)
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    assert query["error"] == "invalid_request"
    assert query["state"] == "st"
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "tamper", [{"code_challenge_method": "plain"}, {"code_challenge": "short"}], ids=["plain PKCE", "short challenge"]
)
def test_a_tampered_consent_form_issues_no_code(base_url, person, tamper):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1])

    response = consent(session, base_url, params, tamper=tamper)

    assert redirect_query(response)["error"] == "invalid_request"
    assert not Grant.objects.exists()


@pytest.mark.parametrize("case", ["altered client_id", "app deleted after the page"])
def test_a_consent_for_an_unknown_app_is_a_validation_error_not_a_server_error(base_url, person, case):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1])
    if case == "altered client_id":
        response = consent(session, base_url, params, tamper={"client_id": "nope"})
    else:
        url = f"{base_url}/oauth/authorize?{urlencode(params)}"
        fields = form_fields(session.get(url, timeout=30).text)
        Application.objects.filter(client_id=client["client_id"]).delete()
        response = session.post(url, data={**fields, "allow": "Allow"}, headers={"Referer": url}, timeout=30)

    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["details"]["oauth_error"] == "invalid_client"
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8765/callback/extra",
        "http://127.0.0.1:8765/callback?x=1",
        "http://127.0.0.1:8765/callback#frag",
        "https://127.0.0.1:8765/callback",
        "http://evil.example/callback",
        "http://127.0.0.2:8765/callback",
    ],
)
def test_authorize_never_redirects_to_an_unregistered_uri(base_url, person, redirect_uri):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], redirect_uri=redirect_uri)

    response = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"]["oauth_error"] == "invalid_request"


def test_loopback_redirect_may_use_another_port(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    other_port = "http://127.0.0.1:50123/callback"
    params = authorize_params(client["client_id"], challenge, redirect_uri=other_port)

    response = consent(session, base_url, params)

    assert response.headers["Location"].startswith(other_port + "?")
    code = redirect_query(response)["code"]
    assert exchange(base_url, client["client_id"], code, verifier, redirect_uri=other_port).status_code == 200


def test_authorize_refuses_an_unknown_client_without_redirecting(base_url, person):
    session = login(base_url, person.email)
    params = authorize_params("no-such-client", pkce_pair()[1])

    response = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_authorize_refuses_unknown_scopes_to_the_client(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], scope="memory:read admin")

    query = redirect_query(session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30))

    assert query["error"] == "invalid_scope"


@pytest.mark.parametrize(
    "case, expected_error",
    [
        ("deny", "access_denied"),
        ("plain pkce", "invalid_request"),
        ("unknown scope", "invalid_scope"),
        ("prompt=none, anonymous", "login_required"),
    ],
)
def test_error_redirects_carry_the_issuer_too(base_url, person, case, expected_error):
    # RFC 9207 §2: error responses carry iss as well, or a client cannot tell which server
    # sent them (the mix-up attack the parameter exists for).
    client = register_client(base_url)
    challenge = pkce_pair()[1]
    params = authorize_params(client["client_id"], challenge, state="st")
    url = f"{base_url}/oauth/authorize"
    if case == "deny":
        response = consent(login(base_url, person.email), base_url, params, allow=False)
    elif case == "prompt=none, anonymous":
        response = requests.get(url, params={**params, "prompt": "none"}, allow_redirects=False, timeout=30)
    else:
        extra = {"code_challenge_method": "plain"} if case == "plain pkce" else {"scope": "memory:read admin"}
        session = login(base_url, person.email)
        response = session.get(url, params={**params, **extra}, allow_redirects=False, timeout=30)

    query = redirect_query(response)
    assert (query["error"], query["state"]) == (expected_error, "st")
    assert query["iss"] == base_url


def test_token_exchange_refusals(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)

    def fresh_code():
        return redirect_query(consent(session, base_url, authorize_params(client["client_id"], challenge)))["code"]

    code = fresh_code()
    wrong = exchange(base_url, client["client_id"], code, pkce_pair()[0])
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    missing = exchange(base_url, client["client_id"], code, None)
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    mismatched = exchange(base_url, client["client_id"], code, verifier, redirect_uri="http://127.0.0.1:8765/other")
    assert mismatched.status_code == 400
    assert mismatched.json()["error"] in {"invalid_request", "invalid_grant"}
    unknown = exchange(base_url, "no-such-client", code, verifier)
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
    other_client = register_client(base_url)
    stolen = exchange(base_url, other_client["client_id"], code, verifier)
    assert (stolen.status_code, stolen.json()["error"]) == (400, "invalid_grant")

    first = exchange(base_url, client["client_id"], code, verifier)
    assert first.status_code == 200, first.text
    reused = exchange(base_url, client["client_id"], code, verifier)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")

    expired_code = fresh_code()
    Grant.objects.filter(code=expired_code).update(expires=timezone.now() - timedelta(seconds=1))
    expired = exchange(base_url, client["client_id"], expired_code, verifier)
    assert (expired.status_code, expired.json()["error"]) == (400, "invalid_grant")
    # Only the first exchange issued a token, and the replay of its code revoked it (RFC 6749 §4.1.2).
    assert AccessToken.objects.filter(user=person).count() == 0


def test_codes_live_for_a_minute(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)

    consent(session, base_url, authorize_params(client["client_id"], pkce_pair()[1]))

    grant = Grant.objects.get()
    assert timedelta(seconds=55) < grant.expires - grant.created <= timedelta(seconds=60)


@pytest.mark.parametrize(
    "grant_type", ["password", "client_credentials", "implicit", "urn:ietf:params:oauth:grant-type:device_code"]
)
def test_token_endpoint_supports_only_code_and_refresh_grants(base_url, grant_type):
    client = register_client(base_url)

    response = requests.post(
        f"{base_url}/api/oauth/token",
        data={"grant_type": grant_type, "client_id": client["client_id"], "username": "a", "password": "b"},
        timeout=30,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_family(base_url, person):
    client, first = obtain_tokens(base_url, person.email)

    rotated = refresh(base_url, client["client_id"], first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["access_token"].startswith("sxo_") and second["refresh_token"].startswith("sxr_")
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == "memory:read"
    assert api_get(base_url, first["access_token"]).status_code == 401  # the old pair is spent
    assert api_get(base_url, second["access_token"]).status_code == 200

    replay = refresh(base_url, client["client_id"], first["refresh_token"])
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    # Reuse means the refresh token leaked: everything descended from it is revoked.
    assert api_get(base_url, second["access_token"]).status_code == 401
    assert refresh(base_url, client["client_id"], second["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_token_belongs_to_its_client(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email)
    other = register_client(base_url)

    response = refresh(base_url, other["client_id"], tokens["refresh_token"])

    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_revoking_the_access_token_revokes_the_pair(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email)

    response = requests.post(
        f"{base_url}/api/oauth/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "access_token", "client_id": client["client_id"]},
        timeout=30,
    )

    assert response.status_code == 200
    assert api_get(base_url, tokens["access_token"]).status_code == 401
    assert refresh(base_url, client["client_id"], tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_the_refresh_token_revokes_the_pair(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email)

    response = requests.post(
        f"{base_url}/api/oauth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": client["client_id"]},
        timeout=30,
    )

    assert response.status_code == 200
    assert api_get(base_url, tokens["access_token"]).status_code == 401


def test_another_client_cannot_revoke_a_token(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email)
    other = register_client(base_url)

    response = requests.post(
        f"{base_url}/api/oauth/revoke",
        data={"token": tokens["access_token"], "client_id": other["client_id"]},
        timeout=30,
    )

    assert response.status_code == 200  # RFC 7009 §2.2: no disclosure
    assert api_get(base_url, tokens["access_token"]).status_code == 200


def test_token_endpoint_is_throttled_per_ip(base_url, settings):
    settings.OAUTH_TOKEN_RATE = "3/h"
    data = {"grant_type": "authorization_code", "code": "nope", "client_id": "nope", "code_verifier": "x" * 43}
    statuses = [requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30).status_code for _ in range(4)]

    assert statuses[:3] == [401, 401, 401]
    last = requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)
    assert last.status_code == 429
    assert last.json()["error"]["code"] == "RATE_LIMITED"
    assert (last.headers.get("Cache-Control"), last.headers.get("Pragma")) == ("no-store", "no-cache")


@pytest.mark.parametrize("path", ["/api/oauth/token", "/api/oauth/revoke"])
def test_a_failed_basic_client_authentication_is_challenged_with_basic(base_url, path):
    # RFC 6749 §5.2: the 401 names the scheme the client authenticated with.
    client = register_client(base_url)
    data = {"grant_type": "refresh_token", "refresh_token": "sxr_nope", "token": "sxo_nope"}

    for client_id in ("no-such-client", client["client_id"]):
        response = requests.post(f"{base_url}{path}", data=data, auth=(client_id, "wrong"), timeout=30)

        assert (response.status_code, response.json()["error"]) == (401, "invalid_client"), (client_id, response.text)
        assert response.headers["WWW-Authenticate"] == 'Basic realm="synchronex"'


def test_protocol_errors_are_json(base_url):
    for method, path in [("GET", "/api/oauth/token"), ("GET", "/api/oauth/revoke"), ("POST", "/oauth/nope")]:
        response = requests.request(method, f"{base_url}{path}", timeout=30)
        assert response.status_code in {404, 405}
        assert response.headers["Content-Type"].startswith("application/json")
        assert "error" in response.json()


def test_consent_is_asked_every_time_even_when_the_client_asks_to_skip_it(base_url, person):
    client, _ = obtain_tokens(base_url, person.email)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], approval_prompt="auto")

    response = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    assert response.status_code == 200
    assert 'id="consent-form"' in response.text
    assert not Grant.objects.exists()
