"""Logging out of the browser pages: the per-address throttle never keeps a session open."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.services import user_create
from tests.support.quota import wait_for_fresh_ip_window

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple 42"


def signed_in(email: str) -> Client:
    """A browser session signed in through the login form."""
    user_create(email=email, password=PASSWORD)
    client = Client()
    assert client.post("/accounts/login/", {"username": email, "password": PASSWORD}).status_code == 302
    assert client.get("/settings/keys").status_code == 200
    return client


def test_anonymous_logouts_from_the_same_address_cannot_keep_a_user_signed_in(settings):
    """The probe's case: anyone behind the same address (a NAT, an office proxy) spent the logout
    throttle with anonymous posts, and the user's "Log out" answered "Too many attempts" with the
    session still open."""
    settings.LOGIN_RATE = "2/m"
    wait_for_fresh_ip_window(5)
    victim = signed_in("victim@example.com")
    anonymous = Client()

    spent = [anonymous.post("/accounts/logout/").status_code for _ in range(3)]
    response = victim.post("/accounts/logout/")

    assert spent == [302, 302, 429]  # posts that end no session are still throttled
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert victim.get("/settings/keys")["Location"].startswith("/accounts/login/")
    assert anonymous.post("/accounts/logout/").status_code == 429
