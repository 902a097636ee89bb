"""The client address the per-address throttles count (synchronex/api/client_ip.py)."""

from __future__ import annotations

import secrets
import time
from functools import partial

import pytest
from django.test import Client, RequestFactory

from synchronex.api import ratelimit
from synchronex.api.client_ip import client_ip
from tests.support.quota import wait_for_fresh_ip_window, wait_for_fresh_minute_margin


def request_from(peer: str, forwarded: str | None = None):
    meta = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1"),  # no proxy trusted: the header is the client's own words
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # a client-sent entry, then the balancer's
        (1, " 6.6.6.6 ,203.0.113.9 ", "203.0.113.9"),
        (2, "6.6.6.6, 203.0.113.9, 192.168.1.5", "203.0.113.9"),
        (1, "2001:db8::7", "2001:db8::7"),
        (2, "203.0.113.9", "10.0.0.1"),  # shorter than the hops: not through the proxies
        (1, None, "10.0.0.1"),
        (1, "", "10.0.0.1"),
        (1, "unknown", "10.0.0.1"),
        # A proxy that writes the client's port (Azure Application Gateway, IIS ARR): the address
        # counts, never the proxy's own (one bucket for every client behind it).
        (1, "1.2.3.4:5678", "1.2.3.4"),
        (1, "6.6.6.6, [2001:db8::9]:443", "2001:db8::9"),
        (1, "[2001:db8::9]", "2001:db8::9"),
        (1, "[::ffff:203.0.113.9]:80", "203.0.113.9"),
        (1, "1.2.3.4:port", "10.0.0.1"),  # not a port: not an address, the peer counts
        (1, "1.2.3.4:", "10.0.0.1"),
        (1, "[1.2.3.4]:80", "10.0.0.1"),
        (1, "2001:db8::9:443", "2001:db8::9:443"),  # unbracketed: an IPv6 address, no port
        # An IPv4 client written IPv4-mapped counts as that IPv4 address, never as IPv6 (whose /64
        # bucket, ``::``, all such clients would share).
        (1, "::ffff:203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, ::FFFF:cb00:7109", "203.0.113.9"),
    ],
)
def test_the_client_is_the_entry_the_trusted_proxies_appended(settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_HOPS = hops
    assert client_ip(request_from("10.0.0.1", forwarded)) == expected


@pytest.mark.parametrize("hops", [0, 1, 2])
def test_an_ipv4_mapped_peer_address_counts_as_its_ipv4_address(settings, hops):
    # gunicorn on a dual-stack [::] socket sees IPv4 clients this way (and so does a short header).
    settings.TRUSTED_PROXY_HOPS = hops
    assert client_ip(request_from("::ffff:198.51.100.4", "203.0.113.9" if hops == 2 else None)) == "198.51.100.4"


def test_an_unreadable_entry_is_logged_once_per_process(settings, caplog, monkeypatch):
    from synchronex.api import client_ip as module

    monkeypatch.setattr(module, "_warned", False)
    settings.TRUSTED_PROXY_HOPS = 1
    with caplog.at_level("WARNING", logger="synchronex.api"):
        assert client_ip(request_from("10.0.0.1", "unknown")) == "10.0.0.1"
        assert client_ip(request_from("10.0.0.1", "nonsense")) == "10.0.0.1"
        assert client_ip(request_from("10.0.0.1", "")) == "10.0.0.1"  # no header: nothing to say
    assert [record.getMessage() for record in caplog.records if "X-Forwarded-For" in record.getMessage()] == [
        "X-Forwarded-For entry 'unknown' is not an address: the peer counts instead (is TRUSTED_PROXY_HOPS right?)"
    ]


def _guess() -> str:
    return "sx_live_" + secrets.token_urlsafe(32)


MAPPED_CLIENTS = [f"::ffff:9.9.7.{n}" for n in range(1, 4)]
ANOTHER_MAPPED_CLIENT = "::ffff:203.0.113.77"


@pytest.mark.django_db
def test_ipv4_mapped_clients_have_a_login_budget_each(settings, make_user):
    """They all used to land in django-ratelimit's IPv6 /64 bucket ``::``: a few guessers written
    ``::ffff:a.b.c.d`` locked every such client out of the login form."""
    settings.TRUSTED_PROXY_HOPS = 1
    settings.LOGIN_RATE = "2/m"
    wait_for_fresh_ip_window(5, address="9.9.7.1")
    user = make_user(password="right password 42!")
    client = Client()
    guesses = [
        client.post("/accounts/login/", {"username": user.email, "password": "wrong"}, HTTP_X_FORWARDED_FOR=address)
        for address in MAPPED_CLIENTS
    ]
    assert [answer.status_code for answer in guesses] == [200, 200, 200]
    right = {"username": user.email, "password": "right password 42!"}
    assert client.post("/accounts/login/", right, HTTP_X_FORWARDED_FOR=ANOTHER_MAPPED_CLIENT).status_code == 302
    # Each is still counted, as its IPv4 address (the same client written either way).
    wrong = {"username": user.email, "password": "wrong"}
    client = Client()  # signed out
    assert client.post("/accounts/login/", wrong, HTTP_X_FORWARDED_FOR="9.9.7.1").status_code == 200
    assert client.post("/accounts/login/", wrong, HTTP_X_FORWARDED_FOR=MAPPED_CLIENTS[0]).status_code == 429


def _guessed_from(client: Client, address: str) -> int:
    """The status of one guessed bearer token sent from ``address`` (behind one proxy)."""
    response = client.get("/api/v1/scope", HTTP_AUTHORIZATION=f"Bearer {_guess()}", HTTP_X_FORWARDED_FOR=address)
    return response.status_code


@pytest.mark.django_db
def test_ipv4_mapped_clients_have_a_bearer_failure_budget_each(settings):
    settings.TRUSTED_PROXY_HOPS = 1
    settings.API_AUTH_FAILURES_PER_MINUTE = 2
    wait_for_fresh_minute_margin(8)
    status = partial(_guessed_from, Client())

    assert [status(address) for address in MAPPED_CLIENTS] == [401, 401, 401]
    assert status(ANOTHER_MAPPED_CLIENT) == 401
    assert [status("9.9.7.1"), status(MAPPED_CLIENTS[0])] == [401, 429]


def test_behind_a_balancer_failed_tokens_count_per_client_and_never_fail_the_request(api, settings):
    """A multi-entry X-Forwarded-For used to reach django-ratelimit raw: every request a 500."""
    settings.TRUSTED_PROXY_HOPS = 1
    settings.API_AUTH_FAILURES_PER_MINUTE = 3
    if 60 - time.time() % 60 < 8:  # the window is the clock minute: do not straddle two
        time.sleep(60 - time.time() % 60 + 0.1)
    statuses = [
        api.get("/api/v1/scope", token=_guess(), headers={"X-Forwarded-For": f"6.6.6.{n}, 203.0.113.9"}).status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 401, 429]  # the client's own entries do not pick a new bucket
    other = api.get("/api/v1/scope", token=_guess(), headers={"X-Forwarded-For": "203.0.113.10"})
    assert other.status_code == 401


@pytest.mark.django_db
def test_behind_a_balancer_that_writes_ports_one_guesser_locks_out_only_itself(settings):
    """``IP:port`` entries were no address: every client counted as the balancer, and one guesser's
    failed tokens answered everyone behind it 429."""
    settings.TRUSTED_PROXY_HOPS = 1
    settings.API_AUTH_FAILURES_PER_MINUTE = 2
    wait_for_fresh_minute_margin(8)
    status = partial(_guessed_from, Client())

    assert [status("198.51.100.7:1111") for _ in range(3)] == [401, 401, 429]
    assert [status("203.0.113.20:3333"), status("[2001:db8::9]:443")] == [401, 401]
    assert status("198.51.100.7:2222") == 429  # the guesser on another port is still the guesser


def test_login_throttle_behind_a_balancer_answers_the_form_not_a_server_error(api, settings):
    settings.TRUSTED_PROXY_HOPS = 1
    login = api.base_url + "/accounts/login/"
    page = api.session.get(login, headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})
    assert page.status_code == 200
    posted = api.session.post(
        login,
        data={"username": "nobody@example.com", "password": "wrong", "csrfmiddlewaretoken": page.cookies["csrftoken"]},
        headers={"Referer": login, "X-Forwarded-For": "6.6.6.6, 203.0.113.9"},
    )
    assert posted.status_code == 200


def test_retry_after_is_rounded_up_so_waiting_it_out_ends_the_window():
    usage = ratelimit.WindowUsage(window="minute", limit=1, count=2, reset=100)
    assert ratelimit.QuotaExceeded(usage, now=70.4).retry_after == 30
    assert ratelimit.QuotaExceeded(usage, now=99.99).retry_after == 1
    assert ratelimit.QuotaExceeded(usage, now=100).retry_after == 1
