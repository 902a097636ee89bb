"""An independent OAuth client (authlib) drives the whole flow from the server's metadata."""

from __future__ import annotations

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.parameters import parse_authorization_code_response
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from apps.oauth.tests.helpers import REDIRECT_URI, form_fields, login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _plain_http_is_fine_for_a_local_test_server(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def test_authlib_client_completes_code_flow_with_pkce_refresh_and_revocation(base_url, person):
    meta = requests.get(f"{base_url}/.well-known/oauth-authorization-server", timeout=30).json()
    registered = requests.post(
        meta["registration_endpoint"],
        json={"client_name": "Authlib Client", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
        timeout=30,
    ).json()
    client = OAuth2Session(
        client_id=registered["client_id"],
        redirect_uri=REDIRECT_URI,
        scope="memory:read decisions:read",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = "v" * 20 + "erifier-0123456789-abcdefghijklmnop"
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    assert f"code_challenge={create_s256_code_challenge(verifier)}" in url

    # The resource owner answers the consent page in their own (logged-in) browser session.
    browser = login(base_url, person.email)
    page = browser.get(url, timeout=30)
    assert "Authlib Client" in page.text
    fields = {**form_fields(page.text), "allow": "Allow"}
    answer = browser.post(url, data=fields, headers={"Referer": url}, allow_redirects=False, timeout=30)
    callback = answer.headers["Location"]
    assert callback.startswith(REDIRECT_URI + "?")
    assert parse_authorization_code_response(callback, state)["iss"] == meta["issuer"]  # state checked too

    token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["access_token"].startswith("sxo_")
    assert token["refresh_token"].startswith("sxr_")
    assert client.get(f"{base_url}/api/v1/scope", timeout=30).status_code == 200

    old_refresh = token["refresh_token"]
    refreshed = client.refresh_token(meta["token_endpoint"])
    assert refreshed["refresh_token"] != old_refresh
    assert client.get(f"{base_url}/api/v1/scope", timeout=30).status_code == 200

    revoked = client.revoke_token(meta["revocation_endpoint"], token=refreshed["access_token"])
    assert revoked.status_code == 200
    denied = client.get(f"{base_url}/api/v1/scope", timeout=30)
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "UNAUTHORIZED"
