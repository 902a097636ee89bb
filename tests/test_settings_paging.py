"""The browser settings pages show a page of rows at a time (``?page=``), however many a user has."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from apps.accounts.models import ApiKey
from apps.accounts.services import user_create

pytestmark = pytest.mark.django_db

PAGE_SIZE = 50  # rows per settings page


@pytest.fixture
def owner():
    return user_create(email="many@example.com", tier="pro")


@pytest.fixture
def browser(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def _add_keys(user, n: int) -> None:
    ApiKey.objects.bulk_create(
        ApiKey(user=user, name=f"key {i}", prefix="sx_live_abc", digest=uuid.uuid4().hex * 2) for i in range(n)
    )


def _add_apps(user, n: int, *, expired: bool = False) -> list:
    Application = get_application_model()
    applications = Application.objects.bulk_create(
        Application(
            name=f"app {uuid.uuid4().hex[:8]}",
            client_id=uuid.uuid4().hex,
            client_type="public",
            authorization_grant_type="authorization-code",
            redirect_uris="http://127.0.0.1/cb",
            hash_client_secret=False,
        )
        for _ in range(n)
    )
    expires = timezone.now() + (timedelta(hours=-1) if expired else timedelta(hours=1))
    get_access_token_model().objects.bulk_create(
        get_access_token_model()(
            user=user,
            application=application,
            token_checksum=uuid.uuid4().hex * 2,
            expires=expires,
            scope="memory:read",
        )
        for application in applications
    )
    return applications


def _rows(html: str, marker: str) -> int:
    return len(re.findall(marker, html))


def _paged(browser, url: str, marker: str, total: int) -> None:
    first = browser.get(url)
    assert first.status_code == 200
    html = first.content.decode()
    pages = -(-total // PAGE_SIZE)
    assert _rows(html, marker) == PAGE_SIZE
    assert f"Page 1 of {pages}" in html and 'href="?page=2"' in html
    last = browser.get(url, {"page": str(pages)}).content.decode()
    assert _rows(last, marker) == total - PAGE_SIZE * (pages - 1)
    # A page that is not one answers a page, never an error.
    assert _rows(browser.get(url, {"page": "abc"}).content.decode(), marker) == PAGE_SIZE
    assert f"Page {pages} of {pages}" in browser.get(url, {"page": "999"}).content.decode()


def test_the_keys_page_shows_a_page_of_keys_at_a_time(browser, owner):
    _add_keys(owner, 120)
    _paged(browser, "/settings/keys", r"<tr data-key-id=", 120)
    browser.get("/settings/keys")
    with CaptureQueriesContext(connection) as before:
        browser.get("/settings/keys")
    _add_keys(owner, 200)
    with CaptureQueriesContext(connection) as after:
        html = browser.get("/settings/keys").content.decode()
    assert len(after) == len(before) and _rows(html, r"<tr data-key-id=") == PAGE_SIZE


def test_the_connected_apps_page_shows_a_page_of_apps_at_a_time(browser, owner):
    _add_apps(owner, 110)
    _add_apps(owner, 5, expired=True)  # no usable token: not connected
    _paged(browser, "/settings/apps", r"<tr data-client-id=", 110)
    newest = _add_apps(owner, 1)[0]
    html = browser.get("/settings/apps").content.decode()
    assert re.search(r'<tr data-client-id="([^"]+)"', html).group(1) == newest.client_id  # newest first
    browser.get("/settings/apps")
    with CaptureQueriesContext(connection) as before:
        browser.get("/settings/apps")
    _add_apps(owner, 150)
    with CaptureQueriesContext(connection) as after:
        browser.get("/settings/apps")
    assert len(after) == len(before)
