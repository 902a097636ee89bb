"""A client_id, code or token holding a NUL byte (which PostgreSQL cannot compare) or another
character no client_id or token has is an unknown value: each endpoint answers it exactly as it
answers an unknown plain value, never with a 500."""

from __future__ import annotations

import base64
import logging

import pytest
import requests
from oauth2_provider.models import get_grant_model

from apps.oauth.tests.helpers import (
    REDIRECT_URI,
    authorize_params,
    consent,
    login,
    obtain_tokens,
    pkce_pair,
    redirect_query,
    register_client,
)

Grant = get_grant_model()

pytestmark = pytest.mark.django_db(transaction=True)

NUL = "\x00"


def answer(response) -> tuple[int, object]:
    """Status and body, without the per-request id of the API's error envelope."""
    body = response.json()
    if isinstance(body.get("error"), dict):
        body["error"].pop("request_id", None)
    return response.status_code, body


def assert_logged_no_error(caplog):
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def basic(client_id: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:".encode()).decode()}


@pytest.mark.parametrize("suffix", [NUL, "\x7f", "é"], ids=["NUL", "DEL", "non-ASCII"])
def test_authorize_treats_a_client_id_with_a_nul_as_unknown(base_url, person, caplog, suffix):
    caplog.set_level(logging.INFO)
    client = register_client(base_url)
    session = login(base_url, person.email)
    challenge = pkce_pair()[1]

    def get(client_id):
        params = authorize_params(client_id, challenge, state="s")
        return session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    response = get(client["client_id"] + suffix)

    assert response.status_code == 400, response.text[:300]
    assert answer(response) == answer(get("no-such-client"))
    assert_logged_no_error(caplog)


def test_prompt_none_authorize_treats_a_client_id_with_a_nul_as_unknown(base_url, caplog):
    caplog.set_level(logging.INFO)
    client = register_client(base_url)
    challenge = pkce_pair()[1]

    def get(client_id):
        params = authorize_params(client_id, challenge, state="s", prompt="none")
        return requests.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

    response = get(client["client_id"] + NUL)

    assert response.status_code == 400, response.text[:300]
    assert answer(response) == answer(get("no-such-client"))
    assert_logged_no_error(caplog)


def test_a_consent_posted_with_a_nul_in_client_id_issues_nothing(base_url, person, caplog):
    caplog.set_level(logging.INFO)
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1])

    response = consent(session, base_url, params, tamper={"client_id": client["client_id"] + NUL})

    # Django's form refuses the NUL before any lookup: an altered form, refused, nothing issued.
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["details"]["oauth_error"] == "invalid_request"
    assert not Grant.objects.exists()
    assert_logged_no_error(caplog)


def test_token_endpoint_treats_a_client_id_with_a_nul_as_unknown(base_url, caplog):
    caplog.set_level(logging.INFO)
    verifier = pkce_pair()[0]

    def post(client_id):
        data = {
            "grant_type": "authorization_code",
            "code": "x",
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "code_verifier": verifier,
        }
        return requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)

    response = post("a" + NUL)

    assert response.status_code == 401, response.text
    assert answer(response) == answer(post("a")) == (401, {"error": "invalid_client"})
    assert_logged_no_error(caplog)


@pytest.mark.parametrize("path", ["/api/oauth/token", "/api/oauth/revoke"])
def test_basic_auth_with_a_nul_in_the_client_id_is_an_unknown_client(base_url, caplog, path):
    caplog.set_level(logging.INFO)
    data = {"grant_type": "refresh_token", "refresh_token": "x", "token": "x"}

    def post(client_id):
        return requests.post(f"{base_url}{path}", data=data, headers=basic(client_id), timeout=30)

    response = post("a" + NUL)

    assert response.status_code == 401, response.text
    assert answer(response) == answer(post("a"))
    assert_logged_no_error(caplog)


@pytest.mark.parametrize("field", ["code", "code_verifier", "redirect_uri"])
def test_a_code_exchange_with_a_nul_is_an_invalid_grant(base_url, person, caplog, field):
    caplog.set_level(logging.INFO)
    client = register_client(base_url)
    verifier = pkce_pair()[0]

    def post(value):
        data = {
            "grant_type": "authorization_code",
            "code": "x",
            "redirect_uri": REDIRECT_URI,
            "client_id": client["client_id"],
            "code_verifier": verifier,
            field: value,
        }
        return requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)

    response = post("x" + NUL)

    assert response.status_code == 400, response.text
    assert answer(response) == answer(post("x"))
    assert answer(response)[1]["error"] == "invalid_grant"
    assert_logged_no_error(caplog)


def test_a_refresh_token_with_a_nul_is_an_invalid_grant(base_url, person, caplog):
    caplog.set_level(logging.INFO)
    client, tokens = obtain_tokens(base_url, person.email)

    def post(refresh_token):
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client["client_id"]}
        return requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)

    response = post(tokens["refresh_token"] + NUL)

    assert response.status_code == 400, response.text
    assert answer(response) == answer(post("x")) == (400, {"error": "invalid_grant"})
    assert_logged_no_error(caplog)


def test_revoke_treats_a_client_id_with_a_nul_as_unknown(base_url, caplog):
    caplog.set_level(logging.INFO)

    def post(client_id):
        return requests.post(f"{base_url}/api/oauth/revoke", data={"token": "x", "client_id": client_id}, timeout=30)

    response = post("a" + NUL)

    assert response.status_code == 401, response.text
    assert answer(response) == answer(post("a"))
    assert_logged_no_error(caplog)


def test_revoking_a_token_with_a_nul_revokes_nothing(base_url, person, caplog):
    caplog.set_level(logging.INFO)
    client, tokens = obtain_tokens(base_url, person.email)

    response = requests.post(
        f"{base_url}/api/oauth/revoke",
        data={"token": tokens["access_token"] + NUL, "client_id": client["client_id"]},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    scope = requests.get(
        f"{base_url}/api/v1/scope", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=30
    )
    assert scope.status_code == 200
    assert_logged_no_error(caplog)


def test_registration_management_with_a_nul_in_the_client_id_is_unauthorized(base_url, caplog):
    caplog.set_level(logging.INFO)
    created = register_client(base_url)
    auth = {"Authorization": f"Bearer {created['registration_access_token']}"}

    def get(client_id):
        return requests.get(f"{base_url}/api/oauth/register/{client_id}", headers=auth, timeout=30)

    response = get(created["client_id"] + "%00")

    assert response.status_code == 401, response.text
    assert answer(response) == answer(get("no-such-client"))
    assert_logged_no_error(caplog)


def test_a_nonce_with_a_nul_issues_no_code(base_url, person, caplog):
    # Not a lookup but stored on the grant, which PostgreSQL refuses just the same.
    caplog.set_level(logging.INFO)
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], nonce="n" + NUL)

    response = consent(session, base_url, params)

    assert redirect_query(response)["error"] == "invalid_request"
    assert not Grant.objects.exists()
    assert_logged_no_error(caplog)


def test_a_token_request_for_a_resource_with_a_nul_is_an_invalid_target(base_url, person, caplog):
    # Stored on the new tokens (jsonb): refused like any resource that is not a URI.
    caplog.set_level(logging.INFO)
    client, tokens = obtain_tokens(base_url, person.email)

    def post(resource):
        data = {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client["client_id"],
            "resource": resource,
        }
        return requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)

    response = post(f"{base_url}/api/v1{NUL}")

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_target"
    assert post("not a uri").json()["error"] == "invalid_target"
    assert_logged_no_error(caplog)
