"""sxo_ tokens on the API: scopes, expiry, revoked apps, audience, and who they act as."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from apps.oauth.models import AppUsage
from apps.oauth.services import OAuthCredential, oauth_token_authenticate
from apps.oauth.tests.helpers import login, obtain_tokens, refresh
from synchronex.api import errors

AccessToken = get_access_token_model()

pytestmark = pytest.mark.django_db(transaction=True)


def api_get(base_url, token, path="/api/v1/scope"):
    return requests.get(f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_token_reaches_the_api_as_the_user_who_consented(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email)

    response = api_get(base_url, tokens["access_token"])

    assert response.status_code == 200
    assert response.json()["scope"] == "personal"
    assert response.headers["X-RateLimit-Limit"] == "300"  # the pro user's quota


def test_credential_allows_only_the_granted_scopes_and_names_the_app(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email, scope="memory:read decisions:write")

    credential = oauth_token_authenticate(raw_token=tokens["access_token"])

    assert isinstance(credential, OAuthCredential)
    assert credential.user == person
    assert credential.actor == f"oauth:{client['client_id']}"
    assert credential.allows("memory:read") and credential.allows("decisions:write")
    assert not credential.allows("memory:write")
    assert not credential.allows("decisions:read")  # write does not imply read for OAuth scopes
    with pytest.raises(KeyError):
        credential.allows("admin")


def test_a_scope_the_token_lacks_is_forbidden_with_required_scopes(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email, scope="decisions:read")

    response = api_get(base_url, tokens["access_token"])

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN"
    assert error["details"]["required_scopes"] == ["memory:read"]


def test_a_missing_scope_carries_the_insufficient_scope_challenge(base_url, person):
    # RFC 6750 §3.1: a 403 for a scope the token lacks MUST say so in WWW-Authenticate.
    _, tokens = obtain_tokens(base_url, person.email, scope="memory:read memory:write")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    response = requests.post(
        f"{base_url}/api/v1/memory/decisions", json={"decision": "x", "product_name": "A"}, headers=headers, timeout=30
    )
    signal = requests.post(
        f"{base_url}/api/v1/ingest/Acme", json={"type": "decision", "title": "x"}, headers=headers, timeout=30
    )

    for refused in (response, signal):
        assert refused.status_code == 403, refused.text
        assert refused.headers["WWW-Authenticate"] == (
            'Bearer realm="synchronex", error="insufficient_scope", scope="decisions:write"'
        )


def test_an_expired_token_answers_token_expired_with_the_challenge(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email)
    AccessToken.objects.filter(user=person).update(expires=timezone.now() - timedelta(seconds=1))

    response = api_get(base_url, tokens["access_token"])

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "TOKEN_EXPIRED"
    assert error["details"]["reconnect"] is True
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="synchronex"')


def test_an_expired_access_token_can_still_be_refreshed(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email)
    AccessToken.objects.filter(user=person).update(expires=timezone.now() - timedelta(seconds=1))

    response = refresh(base_url, client["client_id"], tokens["refresh_token"])

    assert response.status_code == 200
    assert api_get(base_url, response.json()["access_token"]).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["sxo_" + "A" * 43, "sxo_short", "sxr_" + "A" * 43, "sxo_" + "A" * 42 + "!"],
)
def test_unknown_or_malformed_tokens_are_unauthorized(base_url, token):
    response = api_get(base_url, token)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    # RFC 6750 §3.1: a token was sent, so the challenge says it is invalid (refresh or re-authorize,
    # rather than ask the user for credentials), and RFC 9728 §5.1 where to discover the server.
    message = response.json()["error"]["message"]
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="synchronex", resource_metadata="{metadata_url(base_url)}", error="invalid_token", '
        f'error_description="{message}"'
    )


def metadata_url(base_url) -> str:
    return f"{base_url}/.well-known/oauth-protected-resource/api/v1"


def test_a_request_without_a_token_is_challenged_without_an_error_code(base_url):
    response = requests.get(f"{base_url}/api/v1/scope", timeout=30)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="synchronex", resource_metadata="{metadata_url(base_url)}"'
    )
    discovered = requests.get(metadata_url(base_url), timeout=30).json()
    assert discovered["resource"] == f"{base_url}/api/v1" and discovered["authorization_servers"] == [base_url]


@pytest.mark.parametrize("authorization", ["Basic Zm9vOmJhcg==", "", "Bearer", "Token sx_live_x", "Digest a=b"])
def test_credentials_of_another_scheme_are_challenged_as_no_token_on_the_api_and_mcp(base_url, authorization):
    # RFC 6750 §3.1: a request without a Bearer token ("an unsupported authentication method") gets no
    # error code, or a client would refresh and re-authorize for a mistake in its header.
    sent = {"Authorization": authorization}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}

    api = requests.get(f"{base_url}/api/v1/scope", headers=sent, timeout=30)
    mcp = requests.post(f"{base_url}/mcp", json=ping, headers=sent, timeout=30)
    mcp_without = requests.post(f"{base_url}/mcp", json=ping, timeout=30)

    assert (api.status_code, mcp.status_code) == (401, 401)
    assert api.json()["error"]["code"] == "UNAUTHORIZED"
    assert api.headers["WWW-Authenticate"] == f'Bearer realm="synchronex", resource_metadata="{metadata_url(base_url)}"'
    assert mcp.headers["WWW-Authenticate"] == mcp_without.headers["WWW-Authenticate"]
    assert "error=" not in mcp.headers["WWW-Authenticate"]


def test_the_api_and_mcp_challenge_a_refused_token_alike(base_url, person):
    _, revoked = obtain_tokens(base_url, person.email)
    AccessToken.objects.filter(user=person).delete()
    _, for_mcp = obtain_tokens(base_url, person.email, resource=f"{base_url}/mcp")
    auth = {"Authorization": f"Bearer {revoked['access_token']}"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}

    api = api_get(base_url, revoked["access_token"]).headers["WWW-Authenticate"]
    mcp = requests.post(f"{base_url}/mcp", json=ping, headers=auth, timeout=30).headers["WWW-Authenticate"]
    elsewhere = api_get(base_url, for_mcp["access_token"]).headers["WWW-Authenticate"]

    description = 'error_description="Unknown or revoked OAuth access token."'
    assert api.startswith('Bearer realm="synchronex", resource_metadata=') and mcp.startswith(
        'Bearer realm="synchronex", resource_metadata='
    )
    assert f'error="invalid_token", {description}' in api and f'error="invalid_token", {description}' in mcp
    assert 'error="invalid_token"' in elsewhere and "another resource" in elsewhere
    assert f'resource_metadata="{metadata_url(base_url)}"' in elsewhere


def test_refresh_tokens_are_not_access_tokens(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email)

    assert api_get(base_url, tokens["refresh_token"]).status_code == 401


def test_a_token_of_an_inactive_user_is_unauthorized(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email)
    type(person).objects.filter(pk=person.pk).update(is_active=False)

    assert api_get(base_url, tokens["access_token"]).status_code == 401


def test_a_token_narrowed_to_another_resource_is_refused_by_the_api(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email, resource=f"{base_url}/mcp")

    response = api_get(base_url, tokens["access_token"])

    assert response.status_code == 401
    assert "another resource" in response.json()["error"]["message"]


def test_a_token_narrowed_to_the_api_works(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email, resource=f"{base_url}/api/v1")

    assert api_get(base_url, tokens["access_token"]).status_code == 200


def test_api_use_is_recorded_at_most_once_a_minute(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email)
    assert not AppUsage.objects.exists()

    api_get(base_url, tokens["access_token"])
    first = AppUsage.objects.get(user=person).last_used_at
    api_get(base_url, tokens["access_token"])
    assert AppUsage.objects.get(user=person).last_used_at == first

    AppUsage.objects.update(last_used_at=first - timedelta(minutes=5))
    api_get(base_url, tokens["access_token"])
    assert AppUsage.objects.get(user=person).last_used_at > first


def test_session_cookies_never_authenticate_the_api(base_url, person):
    session = login(base_url, person.email)

    response = session.get(f"{base_url}/api/v1/scope", timeout=30)

    assert response.status_code == 401


def test_resolver_raises_domain_errors(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email)
    with pytest.raises(errors.Unauthorized):
        oauth_token_authenticate(raw_token="sxo_" + "B" * 43)
    AccessToken.objects.filter(user=person).update(expires=timezone.now() - timedelta(seconds=1))
    with pytest.raises(errors.TokenExpired):
        oauth_token_authenticate(raw_token=tokens["access_token"])
