"""Every HTML page but the admin's and the API docs' is sent one Content-Security-Policy
(``synchronex/page_security.py``): scripts, styles, images and frames only from this site, no
``<base>``, no plugins, and no framing by any site. The API's JSON answers carry none."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.forms import key_form_token
from synchronex.page_security import PAGE_CSP
from tests.support.quota import wait_for_fresh_ip_window

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_keys_page_sends_the_policy_also_when_it_shows_a_new_key(signed_in, user):
    created = signed_in.post("/settings/keys", {"name": "laptop", "scope": "read", "once": key_form_token(user)})

    assert created.status_code == 200 and "sx_live_" in created.content.decode()
    assert created["Content-Security-Policy"] == PAGE_CSP
    assert signed_in.get("/settings/keys")["Content-Security-Policy"] == PAGE_CSP
    assert signed_in.get("/settings/apps")["Content-Security-Policy"] == PAGE_CSP


def test_the_login_page_and_its_throttled_answer_send_the_policy(settings):
    settings.LOGIN_RATE = "1/m"
    wait_for_fresh_ip_window(5)
    client = Client()

    assert client.get("/accounts/login/")["Content-Security-Policy"] == PAGE_CSP
    answers = [client.post("/accounts/login/", {"username": "a@example.com", "password": "x"}) for _ in range(2)]

    assert [answer.status_code for answer in answers] == [200, 429]
    assert all(answer["Content-Security-Policy"] == PAGE_CSP for answer in answers)


def test_djangos_error_pages_send_the_policy():
    not_found = Client().get("/no-such-page")
    not_allowed = Client().get("/accounts/logout/")
    csrf_refused = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "a@example.com"})

    assert [not_found.status_code, not_allowed.status_code, csrf_refused.status_code] == [404, 405, 403]
    assert all(answer["Content-Security-Policy"] == PAGE_CSP for answer in (not_found, not_allowed, csrf_refused))


def test_the_admin_the_api_docs_and_json_answers_send_none(signed_in):
    # A space's memory overview in the admin writes its style inline, and the docs page (Swagger
    # UI) its start-up script and style: the policy would block them.
    assert Client().get("/admin/login/").status_code == 200
    assert "Content-Security-Policy" not in Client().get("/admin/login/")
    assert "Content-Security-Policy" not in Client().get("/api/v1/docs")
    assert "Content-Security-Policy" not in Client().get("/api/v1/scope")  # the JSON envelope
