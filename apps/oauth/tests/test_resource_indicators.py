"""RFC 8707 resource indicators: only the protected resources this server serves (the REST API and
/mcp) may be named, at the authorization endpoint, the code exchange and a refresh; any other is
``invalid_target`` (§2)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from oauth2_provider.models import get_grant_model

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
    refresh,
    register_client,
)

Grant = get_grant_model()

pytestmark = pytest.mark.django_db(transaction=True)


def foreign_resources(base_url: str) -> list[str]:
    """Resources this server does not serve, among them other spellings of its own origin."""
    origin = urlsplit(base_url)
    other_host = "127.0.0.1" if origin.hostname == "localhost" else "localhost"
    return [
        "https://evil.example/",
        f"{origin.scheme}://{origin.hostname}:{origin.port + 1}/mcp",  # another port
        f"{origin.scheme}://{other_host}:{origin.port}/api/v1",  # another name of the host
        f"{base_url}/api/v2",  # a path it does not protect
        f"{base_url}/mcp?x=1",
    ]


def call(base_url: str, path: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    if path == "/mcp":
        headers.update({"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"})
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        return requests.post(f"{base_url}/mcp", json=body, headers=headers, timeout=30).status_code
    return requests.get(f"{base_url}{path}", headers=headers, timeout=30).status_code


def test_authorize_refuses_a_resource_the_server_does_not_serve_with_an_error_redirect(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)

    for resource in foreign_resources(base_url):
        params = authorize_params(client["client_id"], pkce_pair()[1], state="st", resource=resource)
        response = session.get(f"{base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=30)

        assert response.headers.get("Location", "").startswith(REDIRECT_URI + "?"), (resource, response.status_code)
        query = redirect_query(response)
        assert (query["error"], query["state"], query["iss"]) == ("invalid_target", "st", base_url), resource
    assert not Grant.objects.exists()


def test_a_consent_form_altered_to_another_resource_issues_no_code(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], resource=f"{base_url}/mcp")

    response = consent(session, base_url, params, tamper={"resource": "https://evil.example/"})

    assert redirect_query(response)["error"] == "invalid_target"
    assert not Grant.objects.exists()


def test_the_served_resources_are_accepted_and_shown_on_the_consent_page(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], pkce_pair()[1], resource=f"{base_url}/mcp/")

    page = session.get(f"{base_url}/oauth/authorize", params=params, timeout=30)

    assert page.status_code == 200, page.text[:300]
    assert "Synchronex MCP server" in page.text


def test_the_code_exchange_refuses_a_resource_the_server_does_not_serve(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    code = redirect_query(consent(session, base_url, authorize_params(client["client_id"], challenge)))["code"]
    data = exchange_data(client["client_id"], code, verifier, resource="https://evil.example/")

    response = requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_target"
    assert response.headers["Cache-Control"] == "no-store"
    # Nothing was spent: the same code still works without the foreign resource.
    assert exchange(base_url, client["client_id"], code, verifier).status_code == 200


def test_a_refresh_naming_another_resource_is_refused_and_leaves_the_chain_unrestricted(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email)

    for resource in ("https://evil.example/", f"http://localhost:{urlsplit(base_url).port + 1}/mcp"):
        data = {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client["client_id"],
            "resource": resource,
        }
        response = requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_target"), resource

    renewed = refresh(base_url, client["client_id"], tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert call(base_url, "/api/v1/scope", renewed.json()["access_token"]) == 200
    assert call(base_url, "/mcp", renewed.json()["access_token"]) == 200


@pytest.mark.parametrize(
    ("authorized", "exchanged"),
    [("{base}/mcp/", "{base}/mcp"), ("{base}/mcp", "{base}/mcp/"), ("{base}/api/v1", "{upper}/api/v1/")],
)
def test_a_resource_is_the_same_in_any_spelling_the_authorization_took(base_url, person, authorized, exchanged):
    # README: a trailing slash, or the scheme and host in capitals, are the same resource; the
    # exchange and a refresh compare them so too, not as strings.
    origin = urlsplit(base_url)
    spell = {"base": base_url, "upper": f"HTTP://{origin.hostname.upper()}:{origin.port}"}
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    params = authorize_params(client["client_id"], challenge, resource=authorized.format(**spell))
    code = redirect_query(consent(session, base_url, params))["code"]
    data = exchange_data(client["client_id"], code, verifier, resource=exchanged.format(**spell))

    response = requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)

    assert response.status_code == 200, response.text
    data = {
        "grant_type": "refresh_token",
        "refresh_token": response.json()["refresh_token"],
        "client_id": client["client_id"],
        "resource": authorized.format(**spell),
    }
    renewed = requests.post(f"{base_url}/api/oauth/token", data=data, timeout=30)
    assert renewed.status_code == 200, renewed.text
    served = "/mcp" if "mcp" in authorized else "/api/v1/scope"
    assert call(base_url, served, renewed.json()["access_token"]) == 200
