"""The per-IP throttles of the credential endpoints say when to come back (Retry-After), as the
account quota and the bearer-failure throttle do."""

from __future__ import annotations

import pytest
import requests

from tests.support.quota import seconds_left_in_ip_window, wait_for_fresh_ip_window

pytestmark = pytest.mark.django_db(transaction=True)


def _assert_retry_after(response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    retry_after = int(response.headers["Retry-After"])
    # The seconds left in this address's window (django-ratelimit's windows are staggered per key).
    assert abs(retry_after - seconds_left_in_ip_window()) <= 1 and 1 <= retry_after <= 60


def test_registration_throttle_says_when_to_retry(base_url, settings):
    settings.OAUTH_REGISTER_RATE = "2/m"
    wait_for_fresh_ip_window(10)
    body = {"redirect_uris": ["https://n.example.com/cb"]}
    statuses = [requests.post(f"{base_url}/api/oauth/register", json=body, timeout=30) for _ in range(3)]
    assert [r.status_code for r in statuses[:2]] == [201, 201]
    _assert_retry_after(statuses[2])


def test_token_throttle_says_when_to_retry(base_url, settings):
    settings.OAUTH_TOKEN_RATE = "2/m"
    wait_for_fresh_ip_window(10)
    form = {"grant_type": "authorization_code", "code": "nope", "client_id": "nobody"}
    answers = [requests.post(f"{base_url}/api/oauth/token", data=form, timeout=30) for _ in range(3)]
    assert all(r.status_code != 429 for r in answers[:2])
    _assert_retry_after(answers[2])
