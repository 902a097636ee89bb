"""Bearer authentication, scopes and plans."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.urls("tests.urls")
CHALLENGE = 'Bearer realm="synchronex"'


def assert_unauthorized(response, code="UNAUTHORIZED"):
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith(CHALLENGE)
    assert "X-RateLimit-Limit" not in response.headers
    return response.json()["error"]


def test_missing_token_is_unauthorized(api):
    assert_unauthorized(api.get("/api/v1/scope"))


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token sx_live_abc", "Bearer a b", "sx_live_abc"],
)
def test_malformed_authorization_header_is_unauthorized(api, header):
    assert_unauthorized(api.get("/api/v1/scope", headers={"Authorization": header}))


@pytest.mark.parametrize("token", ["sx_live_short", "sx_live_" + "!" * 43, "sx_test_" + "a" * 43, "xyz"])
def test_malformed_or_foreign_tokens_are_unauthorized(api, token):
    assert_unauthorized(api.get("/api/v1/scope", token=token))


def test_unknown_key_is_unauthorized(api):
    assert_unauthorized(api.get("/api/v1/scope", token="sx_live_" + "A" * 43))


def test_revoked_key_is_unauthorized(api, user):
    key, raw = api_key_create(user=user, name="k", scope="read")
    assert api.get("/api/v1/scope", token=raw).status_code == 200
    api_key_revoke(user=user, key_id=key.id)
    assert_unauthorized(api.get("/api/v1/scope", token=raw))


def test_expired_key_is_token_expired_with_reconnect_hint(api, user):
    key, raw = api_key_create(user=user, name="k", scope="read", expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api.get("/api/v1/scope", token=raw)
    error = assert_unauthorized(response, "TOKEN_EXPIRED")
    assert error["details"] == {"reconnect": True}
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_key_of_a_deactivated_user_is_unauthorized(api, user, make_key):
    raw = make_key(user)
    user.is_active = False
    user.save()
    assert_unauthorized(api.get("/api/v1/scope", token=raw))


def test_session_cookie_is_not_accepted_on_the_api(api, user):
    user.set_password("pw-for-test-123")
    user.save()
    login = api.session.post(
        api.base_url + "/accounts/login/",
        data={"username": user.email, "password": "pw-for-test-123"},
        headers={"Referer": api.base_url + "/accounts/login/"},
        cookies={"csrftoken": "x" * 32},
    )
    assert login.status_code in (200, 302, 403)
    api.session.cookies.set("sessionid", "anything")
    assert_unauthorized(api.get("/api/v1/scope"))


def test_read_key_cannot_write(read_api):
    response = read_api.post("/api/v1/_test/echo", json={"text": "hi"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN"
    assert error["details"] == {"required_scopes": ["memory:write"]}
    # An API key is a bearer token too (RFC 6750 §3.1).
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="synchronex", error="insufficient_scope", scope="memory:write"'
    )


def test_a_forbidden_that_is_not_about_the_token_scope_has_no_challenge(client_for, make_user):
    response = client_for(make_user(tier="free")).get("/api/v1/_test/pro")
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response.headers


def test_write_key_can_read_and_write(write_api):
    assert write_api.get("/api/v1/_test/echo").status_code == 200
    assert write_api.post("/api/v1/_test/echo", json={"text": "hi"}).status_code == 201


def test_feature_above_the_plan_is_tier_required(client_for, make_user):
    response = client_for(make_user(tier="free")).get("/api/v1/_test/pro")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "TIER_REQUIRED"
    assert error["details"] == {"required_tier": "pro", "current_tier": "free"}
    for tier in ("pro", "team", "enterprise"):
        assert client_for(make_user(tier=tier)).get("/api/v1/_test/pro").status_code == 200


def test_last_used_is_recorded_at_most_once_a_minute(api, user):
    key, raw = api_key_create(user=user, name="k", scope="read")
    assert key.last_used_at is None
    api.get("/api/v1/scope", token=raw)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    api.get("/api/v1/scope", token=raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    api.get("/api/v1/scope", token=raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first - timedelta(minutes=2)
