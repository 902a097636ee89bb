"""/settings/apps: the user's connected apps, their scopes and last use; disconnecting."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests
from django.db import connection
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from apps.oauth.models import AppUsage
from apps.oauth.tests.helpers import (
    PASSWORD,
    authorize_params,
    form_fields,
    login,
    obtain_tokens,
    pkce_pair,
    refresh,
    register_client,
)

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Application = get_application_model()

pytestmark = pytest.mark.django_db(transaction=True)


def api_get(base_url, token):
    return requests.get(f"{base_url}/api/v1/scope", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def disconnect(session, base_url, application_id):
    page = session.get(f"{base_url}/settings/apps", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        f"{base_url}/settings/apps/{application_id}/revoke",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": f"{base_url}/settings/apps"},
        allow_redirects=False,
        timeout=30,
    )


def test_page_needs_login(base_url):
    response = requests.get(f"{base_url}/settings/apps", allow_redirects=False, timeout=30)

    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/?next=/settings/apps"


def test_the_apps_page_and_the_consent_page_are_never_stored(base_url, person):
    """They sent no Cache-Control: after signing out, Back showed the connected apps and the
    consent form (its CSRF token, the app and scopes) from the browser's history cache."""
    session = login(base_url, person.email)
    client = register_client(base_url)
    _verifier, challenge = pkce_pair()
    params = authorize_params(client["client_id"], challenge)
    for response in (
        session.get(f"{base_url}/settings/apps", timeout=30),
        session.get(f"{base_url}/oauth/authorize", params=params, timeout=30),
    ):
        assert response.status_code == 200, response.url
        cache_control = response.headers.get("Cache-Control", "")
        assert "no-store" in cache_control and "private" in cache_control, (response.url, cache_control)


def test_lists_connected_apps_with_scopes_and_last_use(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email, scope="memory:read decisions:read")
    session = login(base_url, person.email)

    page = session.get(f"{base_url}/settings/apps", timeout=30)
    assert page.status_code == 200
    assert "Notes Helper" in page.text
    assert "127.0.0.1:8765" in page.text
    assert "Read your Identity Kernel" in page.text and "Search and read your decisions" in page.text
    assert re.search(r'class="last-used">never<', page.text)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    api_get(base_url, tokens["access_token"])
    page = session.get(f"{base_url}/settings/apps", timeout=30)
    assert re.search(r'class="last-used">\d{4}-\d\d-\d\d \d\d:\d\d<', page.text)


def test_disconnecting_revokes_every_token_of_that_app(base_url, person):
    client, first = obtain_tokens(base_url, person.email)
    _, second = obtain_tokens(base_url, person.email, client=client)
    other_client, other = obtain_tokens(base_url, person.email, client=register_client(base_url, name="Other"))
    session = login(base_url, person.email)
    application = Application.objects.get(client_id=client["client_id"])

    response = disconnect(session, base_url, application.pk)

    assert response.status_code == 302
    assert response.headers["Location"] == "/settings/apps"
    for tokens in (first, second):
        assert api_get(base_url, tokens["access_token"]).status_code == 401
        assert refresh(base_url, client["client_id"], tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert api_get(base_url, other["access_token"]).status_code == 200  # other apps keep working
    page = session.get(f"{base_url}/settings/apps", timeout=30).text
    assert "Disconnected “Notes Helper”." in page
    assert f'data-client-id="{client["client_id"]}"' not in page
    assert f'data-client-id="{other_client["client_id"]}"' in page


def test_an_app_that_revoked_its_own_tokens_can_still_be_disconnected(base_url, person):
    # Its "last used" row outlived the tokens, and "That app is not connected." removed nothing, so
    # the registration prune kept the client for ever.
    client, tokens = obtain_tokens(base_url, person.email)
    assert api_get(base_url, tokens["access_token"]).status_code == 200
    application = Application.objects.get(client_id=client["client_id"])
    assert AppUsage.objects.filter(user=person, application=application).exists()
    revoked = requests.post(
        f"{base_url}/api/oauth/revoke",
        data={"token": tokens["access_token"], "client_id": client["client_id"]},
        timeout=30,
    )
    assert revoked.status_code == 200
    session = login(base_url, person.email)

    assert disconnect(session, base_url, application.pk).status_code == 302

    assert not AppUsage.objects.filter(user=person, application=application).exists()
    page = session.get(f"{base_url}/settings/apps", timeout=30).text
    assert "Disconnected “Notes Helper”." in page
    # Nothing of the account's is left for the app: a second disconnect finds nothing.
    assert disconnect(session, base_url, application.pk).status_code == 302
    assert "That app is not connected." in session.get(f"{base_url}/settings/apps", timeout=30).text


def wait_until_another_session_waits_for_a_lock():
    with connection.cursor() as cursor:
        for _ in range(400):
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else the view is frozen for the transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the disconnect never waited for the rotation's lock")


def test_a_refresh_checked_before_a_disconnect_gets_no_new_tokens(base_url, person, monkeypatch):
    client, tokens = obtain_tokens(base_url, person.email)
    session = login(base_url, person.email)
    application = Application.objects.get(client_id=client["client_id"])
    validate = OAuth2Validator.validate_refresh_token

    def validate_then_disconnect(self, *args, **kwargs):
        valid = validate(self, *args, **kwargs)
        # The user disconnects the app after its refresh token was checked, before the new pair is saved.
        assert disconnect(session, base_url, application.pk).status_code == 302
        return valid

    monkeypatch.setattr(OAuth2Validator, "validate_refresh_token", validate_then_disconnect)
    response = refresh(base_url, client["client_id"], tokens["refresh_token"])

    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert not AccessToken.objects.filter(user=person).exists()
    assert not RefreshToken.objects.filter(user=person, revoked__isnull=True).exists()


def test_a_disconnect_that_waits_for_a_rotation_revokes_the_new_pair_too(base_url, person, monkeypatch):
    client, tokens = obtain_tokens(base_url, person.email)
    session = login(base_url, person.email)
    application = Application.objects.get(client_id=client["client_id"])
    create_refresh_token = OAuth2Validator._create_refresh_token
    disconnecting = {}

    def disconnect_during_rotation(self, *args, **kwargs):
        # Inside the rotation's transaction, the old refresh token locked and the new access
        # token written: the disconnect starts now and must wait for the rotation to commit.
        thread = threading.Thread(
            target=lambda: disconnecting.update(response=disconnect(session, base_url, application.pk))
        )
        thread.start()
        disconnecting["thread"] = thread
        wait_until_another_session_waits_for_a_lock()
        return create_refresh_token(self, *args, **kwargs)

    monkeypatch.setattr(OAuth2Validator, "_create_refresh_token", disconnect_during_rotation)
    rotated = refresh(base_url, client["client_id"], tokens["refresh_token"])
    disconnecting["thread"].join(timeout=30)

    assert rotated.status_code == 200, rotated.text  # the rotation committed first
    assert disconnecting["response"].status_code == 302
    assert not RefreshToken.objects.filter(user=person, revoked__isnull=True).exists()
    assert not AccessToken.objects.filter(user=person).exists()
    new = rotated.json()
    assert api_get(base_url, new["access_token"]).status_code == 401
    monkeypatch.undo()
    assert refresh(base_url, client["client_id"], new["refresh_token"]).json()["error"] == "invalid_grant"


def test_disconnect_needs_csrf(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email)
    session = login(base_url, person.email)
    application = Application.objects.get(client_id=client["client_id"])

    response = session.post(f"{base_url}/settings/apps/{application.pk}/revoke", allow_redirects=False, timeout=30)

    assert response.status_code == 403
    assert api_get(base_url, tokens["access_token"]).status_code == 200


def test_users_see_and_disconnect_only_their_own_apps(base_url, person, make_user):
    client, tokens = obtain_tokens(base_url, person.email)
    stranger = make_user(password=PASSWORD)
    session = login(base_url, stranger.email)
    application = Application.objects.get(client_id=client["client_id"])

    page = session.get(f"{base_url}/settings/apps", timeout=30)
    assert "Notes Helper" not in page.text
    assert 'id="no-apps"' in page.text

    response = disconnect(session, base_url, application.pk)
    assert response.status_code == 302
    assert "not connected" in session.get(f"{base_url}/settings/apps", timeout=30).text
    assert api_get(base_url, tokens["access_token"]).status_code == 200
    assert RefreshToken.objects.filter(user=person, revoked__isnull=True).count() == 1


def test_consent_page_links_to_connected_apps(base_url, person):
    client = register_client(base_url)
    session = login(base_url, person.email)
    page = session.get(f"{base_url}/oauth/authorize", params=authorize_params(client["client_id"], pkce_pair()[1]))

    assert 'href="/settings/apps"' in page.text
    assert form_fields(page.text)["code_challenge_method"] == "S256"


def test_an_app_name_is_isolated_from_the_page_text_around_it(base_url, person):
    # Names registered before bidi controls were refused may still hold one: on its own, a
    # right-to-left override in the name would reorder the page's words after it too.
    client = register_client(base_url)
    Application.objects.filter(client_id=client["client_id"]).update(name="Safe Notes\u202e ppA")
    obtain_tokens(base_url, person.email, client=client)
    session = login(base_url, person.email)

    page = session.get(f"{base_url}/oauth/authorize", params=authorize_params(client["client_id"], pkce_pair()[1]))
    apps = session.get(f"{base_url}/settings/apps", timeout=30)

    assert '<bdi id="app-name">Safe Notes\u202e ppA</bdi>' in page.text
    assert "<bdi>Safe Notes\u202e ppA</bdi>" in apps.text
