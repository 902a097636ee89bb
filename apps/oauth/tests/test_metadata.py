"""RFC 8414 authorization server metadata and RFC 9728 protected resource metadata."""

from __future__ import annotations

import pytest
import requests

from synchronex.api.scopes import SCOPES

pytestmark = pytest.mark.django_db(transaction=True)


def test_authorization_server_metadata_describes_what_the_server_does(base_url):
    response = requests.get(f"{base_url}/.well-known/oauth-authorization-server", timeout=30)

    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == base_url
    assert meta["authorization_endpoint"] == f"{base_url}/oauth/authorize"
    assert meta["token_endpoint"] == f"{base_url}/api/oauth/token"
    assert meta["revocation_endpoint"] == f"{base_url}/api/oauth/revoke"
    assert meta["registration_endpoint"] == f"{base_url}/api/oauth/register"
    assert meta["scopes_supported"] == sorted(SCOPES)
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "introspection_endpoint" not in meta
    # Left out, RFC 8414 §2 would mean ["query", "fragment"]; only the query is answered.
    assert meta["response_modes_supported"] == ["query"]


def test_every_advertised_endpoint_exists(base_url):
    meta = requests.get(f"{base_url}/.well-known/oauth-authorization-server", timeout=30).json()

    for key in ("token_endpoint", "revocation_endpoint", "registration_endpoint"):
        answer = requests.post(meta[key], data={}, timeout=30)
        assert answer.status_code not in {404, 405, 500}, key
    assert requests.get(meta["authorization_endpoint"], allow_redirects=False, timeout=30).status_code == 302


def test_issuer_is_the_public_base_url_not_the_request_host(api, settings):
    meta = requests.get(f"{api.base_url}/.well-known/oauth-authorization-server", timeout=30).json()

    assert meta["issuer"] == settings.PUBLIC_BASE_URL.rstrip("/")
    assert meta["token_endpoint"] == settings.PUBLIC_BASE_URL.rstrip("/") + "/api/oauth/token"


@pytest.mark.parametrize("suffix", ["", "/api/v1"])
def test_protected_resource_metadata_describes_the_api(base_url, suffix):
    response = requests.get(f"{base_url}/.well-known/oauth-protected-resource{suffix}", timeout=30)

    assert response.status_code == 200
    meta = response.json()
    assert meta["resource"] == f"{base_url}/api/v1"
    assert meta["authorization_servers"] == [base_url]
    assert meta["scopes_supported"] == sorted(SCOPES)
    assert meta["bearer_methods_supported"] == ["header"]
    assert meta["resource_name"] == "Synchronex API"
    assert meta["resource_documentation"] == f"{base_url}/api/v1/docs"


def test_unknown_protected_resource_is_a_json_404(base_url):
    response = requests.get(f"{base_url}/.well-known/oauth-protected-resource/nope", timeout=30)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_metadata_documents_allow_cross_origin_reads(base_url):
    for path in ("oauth-authorization-server", "oauth-protected-resource"):
        response = requests.get(f"{base_url}/.well-known/{path}", timeout=30)
        assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "path", ["oauth-authorization-server", "oauth-protected-resource", "oauth-protected-resource/mcp"]
)
def test_metadata_documents_answer_the_cors_preflight(base_url, path):
    # A browser-based MCP client sends its protocol header, so the GET is preflighted (Fetch §4.8).
    headers = {
        "Origin": "https://inspector.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "mcp-protocol-version",
    }

    response = requests.options(f"{base_url}/.well-known/{path}", headers=headers, timeout=30)

    assert response.status_code in {200, 204}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "mcp-protocol-version"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "path", ["oauth-authorization-server", "oauth-protected-resource", "oauth-protected-resource/mcp"]
)
def test_metadata_documents_answer_other_methods_with_405_and_allow(base_url, path, method):
    # No cookie, no CSRF token: the method is what is wrong, not a missing token (SPEC §1).
    response = requests.request(method, f"{base_url}/.well-known/{path}", data={"x": "1"}, timeout=30)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in response.headers["Allow"] and "POST" not in response.headers["Allow"]
