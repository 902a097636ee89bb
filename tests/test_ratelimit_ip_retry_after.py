"""The per-IP throttles of the credential endpoints say when to come back (Retry-After), as the
account quota and the bearer-failure throttle do."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.quota import seconds_left_in_ip_window, wait_for_fresh_ip_window

pytestmark = pytest.mark.django_db(transaction=True)


def _assert_retry_after(send) -> None:
    """``send()`` is refused with the seconds left in this address's window (django-ratelimit's
    windows are staggered per key), as they were when the server answered: between the seconds
    left before the request and after its answer (a loaded machine may take a second or two)."""
    before = seconds_left_in_ip_window()
    response = send()
    after = seconds_left_in_ip_window()
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    retry_after = int(response.headers["Retry-After"])
    assert after - 1 <= retry_after <= before + 1 and 1 <= retry_after <= 60, (before, retry_after, after)


def test_registration_throttle_says_when_to_retry(base_url, settings):
    settings.OAUTH_REGISTER_RATE = "2/m"
    wait_for_fresh_ip_window(10)
    body = {"redirect_uris": ["https://n.example.com/cb"]}
    post = lambda: requests.post(f"{base_url}/api/oauth/register", json=body, timeout=30)  # noqa: E731
    assert [post().status_code, post().status_code] == [201, 201]
    _assert_retry_after(post)


def test_token_throttle_says_when_to_retry(base_url, settings):
    settings.OAUTH_TOKEN_RATE = "2/m"
    wait_for_fresh_ip_window(10)
    form = {"grant_type": "authorization_code", "code": "nope", "client_id": "nobody"}
    post = lambda: requests.post(f"{base_url}/api/oauth/token", data=form, timeout=30)  # noqa: E731
    assert all(post().status_code != 429 for _ in range(2))
    _assert_retry_after(post)


def _at_the_start_of_an_ip_window(period: int) -> None:
    """Sleep to the first second of this address's next ``period``-second throttle window, so the
    refusal below comes with the most seconds left (a short Retry-After would show)."""
    while seconds_left_in_ip_window(period=period) != period - 1:
        time.sleep(1 - time.time() % 1 + 0.01)


@pytest.mark.parametrize(
    ("path", "setting", "payload"),
    [
        ("/api/oauth/register", "OAUTH_REGISTER_RATE", {"json": {"redirect_uris": ["https://n.example.com/cb"]}}),
        ("/api/oauth/token", "OAUTH_TOKEN_RATE", {"data": {"grant_type": "authorization_code", "code": "x"}}),
    ],
)
def test_waiting_exactly_retry_after_is_enough(base_url, settings, path, setting, payload):
    # django-ratelimit keeps a window open through the whole of its last second: a Retry-After of
    # the whole seconds to that second's start sent clients back one second too early.
    setattr(settings, setting, "1/3s")
    _at_the_start_of_an_ip_window(3)
    first = requests.post(base_url + path, timeout=30, **payload)
    refused = requests.post(base_url + path, timeout=30, **payload)
    assert first.status_code != 429 and refused.status_code == 429, refused.text
    time.sleep(int(refused.headers["Retry-After"]))
    again = requests.post(base_url + path, timeout=30, **payload)
    assert again.status_code != 429, again.headers.get("Retry-After")


def test_waiting_exactly_retry_after_is_enough_on_the_login_form(base_url, settings):
    settings.LOGIN_RATE = "1/3s"  # the browser's login form shares the throttle (ip_throttled)
    login = base_url + "/accounts/login/"
    session = requests.Session()
    session.get(login, timeout=30)
    form = {"username": "nobody@example.com", "password": "wrong", "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    post = lambda: session.post(login, data=form, headers={"Referer": login}, timeout=30)  # noqa: E731
    _at_the_start_of_an_ip_window(3)
    first, refused = post(), post()
    assert first.status_code == 200 and refused.status_code == 429
    time.sleep(int(refused.headers["Retry-After"]))
    assert post().status_code == 200
