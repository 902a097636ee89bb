"""Token and revocation requests that are ambiguous are refused ``invalid_request`` (RFC 6749 §5.2):
a parameter sent twice (§3.1, §3.2), two client identities (HTTP Basic and a body ``client_id``)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests
from oauth2_provider.models import get_access_token_model

from apps.oauth.tests.helpers import (
    REDIRECT_URI,
    authorize_params,
    consent,
    exchange,
    exchange_data,
    login,
    obtain_tokens,
    pkce_pair,
    redirect_query,
    register_client,
)

AccessToken = get_access_token_model()

pytestmark = pytest.mark.django_db(transaction=True)


def code_for(base_url, person, client) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    code = redirect_query(consent(session, base_url, authorize_params(client["client_id"], challenge)))["code"]
    return code, verifier


def post_form(url: str, pairs: list[tuple[str, str]], **kwargs):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return requests.post(url, data=urlencode(pairs), headers=headers, timeout=30, **kwargs)


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("redirect_uri", "https://evil.example/"),
        ("client_id", "nope"),
        ("grant_type", "refresh_token"),
        ("code_verifier", "x" * 43),
        ("code", "nope"),
    ],
)
def test_a_token_request_repeating_a_parameter_is_invalid_request(base_url, person, name, first):
    client = register_client(base_url)
    code, verifier = code_for(base_url, person, client)
    good = exchange_data(client["client_id"], code, verifier)
    # The wrong value first: DOT kept the last one, so the repeat went unnoticed and succeeded.
    pairs = [(key, value) for key, value in good.items() if key != name] + [(name, first), (name, good[name])]

    response = post_form(f"{base_url}/api/oauth/token", pairs)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), response.text
    assert response.json()["error_description"] == f"Duplicate {name} parameter."
    assert response.headers["Cache-Control"] == "no-store"
    assert not AccessToken.objects.filter(user=person).exists()
    assert exchange(base_url, client["client_id"], code, verifier).status_code == 200  # nothing was spent


def test_resource_may_be_repeated(base_url, person):
    client = register_client(base_url)
    code, verifier = code_for(base_url, person, client)
    pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
        ("client_id", client["client_id"]),
        ("resource", f"{base_url}/api/v1"),
        ("resource", f"{base_url}/mcp"),
    ]

    assert post_form(f"{base_url}/api/oauth/token", pairs).status_code == 200


def test_a_revocation_repeating_a_parameter_is_invalid_request(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email)
    pairs = [("token", "sxo_nope"), ("token", tokens["access_token"]), ("client_id", client["client_id"])]

    response = post_form(f"{base_url}/api/oauth/revoke", pairs)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), response.text
    assert AccessToken.objects.filter(user=person).exists()


def test_a_body_client_id_other_than_the_basic_client_is_invalid_request(base_url, person):
    client = register_client(base_url)
    code, verifier = code_for(base_url, person, client)
    data = exchange_data("someone-else", code, verifier)
    token_url = f"{base_url}/api/oauth/token"

    response = requests.post(token_url, data=data, auth=(client["client_id"], ""), timeout=30)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), response.text
    assert "HTTP Basic" in response.json()["error_description"]
    # The same client both ways is one identity.
    same = requests.post(token_url, data={**data, "client_id": client["client_id"]}, auth=(client["client_id"], ""))
    assert same.status_code == 200, same.text


@pytest.mark.parametrize(
    "body",
    [
        {"grant_type": "authorization_code"},  # the exchange itself, as JSON
        {},
    ],
)
def test_a_json_token_request_is_invalid_request(base_url, person, body):
    # RFC 6749 §3.2 / §4.1.3: parameters are sent form-encoded. Django reads no form from a JSON
    # body, so the request had no grant_type and was answered unsupported_grant_type.
    client = register_client(base_url)
    code, verifier = code_for(base_url, person, client)
    if body:
        body = exchange_data(client["client_id"], code, verifier)

    response = requests.post(f"{base_url}/api/oauth/token", json=body, timeout=30)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), response.text
    assert "application/x-www-form-urlencoded" in response.json()["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    assert exchange(base_url, client["client_id"], code, verifier).status_code == 200  # nothing was spent


@pytest.mark.parametrize("grant_type", [None, ""])
def test_a_token_request_without_grant_type_is_invalid_request(base_url, person, grant_type):
    # RFC 6749 §5.2: a missing required parameter is invalid_request; one sent without a value is
    # as if omitted (§3.1). unsupported_grant_type is for a grant_type the server does not know.
    client = register_client(base_url)
    code, verifier = code_for(base_url, person, client)
    data = exchange_data(client["client_id"], code, verifier)
    if grant_type is None:
        del data["grant_type"]
    else:
        data["grant_type"] = grant_type

    response = requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)

    assert (response.status_code, response.json()) == (
        400,
        {"error": "invalid_request", "error_description": "Missing grant_type parameter."},
    ), response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert exchange(base_url, client["client_id"], code, verifier).status_code == 200


def test_an_empty_token_request_is_invalid_request(base_url):
    response = requests.post(f"{base_url}/api/oauth/token", timeout=30)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), response.text


def test_an_unknown_grant_type_stays_unsupported_grant_type(base_url):
    client = register_client(base_url)

    response = requests.post(
        f"{base_url}/api/oauth/token", data={"grant_type": "bogus", "client_id": client["client_id"]}, timeout=30
    )

    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type"), response.text
