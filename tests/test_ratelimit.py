"""Account quotas: both fixed windows, the headers, and the exact 429."""

import re
import time
from datetime import UTC, datetime

import pytest

from synchronex.api import ratelimit
from tests.support.quota import wait_for_fresh_ip_window, wait_for_fresh_minute_margin

pytestmark = pytest.mark.urls("tests.urls")


def test_headers_on_every_authenticated_response(client_for, make_user):
    wait_for_fresh_minute_margin(5)
    api = client_for(make_user(tier="free"))
    now = time.time()
    response = api.get("/api/v1/scope")
    assert response.headers["X-RateLimit-Limit"] == "60"
    assert response.headers["X-RateLimit-Remaining"] == "59"
    reset = int(response.headers["X-RateLimit-Reset"])
    assert reset % 60 == 0 and 0 < reset - now <= 60
    # Errors of authenticated requests carry them too.
    assert "X-RateLimit-Remaining" in api.get("/api/v1/_test/pro").headers
    assert "X-RateLimit-Remaining" in api.post("/api/v1/_test/echo", json={}).headers


@pytest.mark.parametrize("tier,minute", [("pro", 300), ("team", 600)])
def test_tier_limits(client_for, make_user, tier, minute):
    assert client_for(make_user(tier=tier)).get("/api/v1/scope").headers["X-RateLimit-Limit"] == str(minute)


def test_minute_window_over_the_limit_gets_the_exact_429(client_for, make_user):
    wait_for_fresh_minute_margin()
    api = client_for(make_user(tier="enterprise", minute_limit=3, daily_limit=1000))
    statuses = [api.get("/api/v1/scope").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    now = time.time()
    response = api.get("/api/v1/scope")
    assert response.status_code == 429
    body = response.json()
    assert set(body) == {"error", "retry_after", "limit", "remaining", "reset_at"}
    assert body["error"] == "rate_limit_exceeded"
    assert body["limit"] == 3 and body["remaining"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z", body["reset_at"])
    reset_at = datetime.strptime(body["reset_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert 0 < reset_at.timestamp() - now <= 60
    assert int(response.headers["Retry-After"]) == body["retry_after"]
    assert 1 <= body["retry_after"] <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_day_window_counts_across_all_keys_of_the_account(client_for, make_user):
    wait_for_fresh_minute_margin(5)  # the day ends on a minute
    owner = make_user(tier="enterprise", minute_limit=100, daily_limit=4)
    first, second = client_for(owner), client_for(owner, "read")
    assert first.get("/api/v1/scope").headers["X-RateLimit-Limit"] == "4"  # the day has fewer left
    assert second.get("/api/v1/scope").status_code == 200
    assert first.get("/api/v1/scope").status_code == 200
    last = second.get("/api/v1/scope")
    assert last.status_code == 200 and last.headers["X-RateLimit-Remaining"] == "0"
    refused = first.get("/api/v1/scope")
    assert refused.status_code == 429
    body = refused.json()
    assert body["limit"] == 4 and body["reset_at"].endswith("T00:00:00.000Z")


def test_a_429_that_spends_the_day_says_to_wait_for_the_day(client_for, make_user):
    """A refused request counts in both windows: when it is the day's last, the next admission is
    at UTC midnight, and the minute's end would be a false promise."""
    wait_for_fresh_minute_margin(5)
    api = client_for(make_user(tier="enterprise", minute_limit=3, daily_limit=4))
    assert [api.get("/api/v1/scope").status_code for _ in range(3)] == [200, 200, 200]
    now = time.time()
    refused = api.get("/api/v1/scope")  # over the minute, and the day's fourth of four
    assert refused.status_code == 429
    body = refused.json()
    midnight = (int(now) // 86400 + 1) * 86400
    assert body["limit"] == 4 and body["reset_at"].endswith("T00:00:00.000Z")
    assert midnight - now - 5 <= body["retry_after"] <= midnight - now + 1
    assert refused.headers["Retry-After"] == str(body["retry_after"])
    assert refused.headers["X-RateLimit-Limit"] == "4"
    assert refused.headers["X-RateLimit-Reset"] == str(midnight)


def test_a_request_that_spends_both_windows_reports_the_later_reset(client_for, make_user):
    wait_for_fresh_minute_margin(5)
    api = client_for(make_user(tier="enterprise", minute_limit=2, daily_limit=2))
    api.get("/api/v1/scope")
    last = api.get("/api/v1/scope")
    assert last.status_code == 200 and last.headers["X-RateLimit-Remaining"] == "0"
    # Nothing is admitted before midnight: the minute's end would be no time to come back.
    assert int(last.headers["X-RateLimit-Reset"]) % 86400 == 0
    assert last.headers["X-RateLimit-Limit"] == "2"


def test_accounts_are_counted_separately(client_for, make_user):
    wait_for_fresh_minute_margin()
    busy = client_for(make_user(tier="enterprise", minute_limit=2, daily_limit=100))
    other = client_for(make_user(tier="enterprise", minute_limit=2, daily_limit=100))
    for _ in range(3):
        busy.get("/api/v1/scope")
    assert busy.get("/api/v1/scope").status_code == 429
    assert other.get("/api/v1/scope").status_code == 200


def test_enterprise_without_own_numbers_uses_the_enterprise_default(make_user):
    user = make_user(tier="enterprise")
    assert ratelimit.limits_for(user) == ratelimit.ENTERPRISE_DEFAULTS


def test_an_enterprise_limit_of_zero_admits_nothing(client_for, make_user):
    """0 is an operator cutting an account off, not "use the default" (that is an empty field)."""
    assert ratelimit.limits_for(make_user(tier="enterprise", minute_limit=0)) == {"day": 200_000, "minute": 0}
    assert ratelimit.limits_for(make_user(tier="enterprise", daily_limit=0)) == {"day": 0, "minute": 3_000}
    for limits in ({"minute_limit": 0}, {"daily_limit": 0}):
        response = client_for(make_user(tier="enterprise", **limits)).get("/api/v1/scope")
        assert response.status_code == 429, limits
        assert response.json()["limit"] == 0 and response.headers["X-RateLimit-Limit"] == "0"


@pytest.mark.django_db
def test_an_enterprise_limit_of_zero_admits_nothing_on_redis(make_user, settings):
    from tests.support import servers

    if servers.redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    with servers.redis_server() as url:
        settings.CACHES = {**settings.CACHES, "quota": {"BACKEND": "synchronex.api.cache.RedisCache", "LOCATION": url}}
        settings.RATELIMIT_USE_CACHE = "quota"
        assert not ratelimit.counts_in_database()
        with pytest.raises(ratelimit.QuotaExceeded) as refused:
            ratelimit.consume(make_user(tier="enterprise", minute_limit=0))
        assert refused.value.usage.limit == 0 and refused.value.usage.window == "minute"


def test_the_database_store_keeps_the_windows_of_ratelimit():
    from synchronex.api import quota_table

    assert tuple(window for window, _ in ratelimit.WINDOWS) == quota_table.WINDOWS


@pytest.mark.django_db
def test_database_counts_restart_with_each_new_window_and_never_flap_back(make_user):
    """One row per account counts both windows; a request stamped with an older window (a web
    process whose clock lags) counts in the newer one instead of restarting it."""
    from synchronex.api import quota_table

    user = make_user()
    day = 1_795_910_400  # a UTC midnight
    at = lambda seconds: ratelimit.Windows.at(day + seconds)  # noqa: E731
    assert quota_table.count(user.pk, at(10)) == [1, 1]
    assert quota_table.count(user.pk, at(59)) == [2, 2]
    assert quota_table.count(user.pk, at(60)) == [1, 3]  # a new minute, the same day
    assert quota_table.count(user.pk, at(59)) == [2, 4]  # a lagging clock: still the new minute
    assert quota_table.count(user.pk, at(61)) == [3, 5]
    assert ratelimit.usage_today_many([user], now=day + 3600) == {user.pk: 5}
    assert quota_table.count(user.pk, at(86_400)) == [1, 1]  # the next day
    assert ratelimit.usage_today_many([user], now=day + 3600) == {user.pk: 0}  # that day is over
    assert ratelimit.usage_today_many([user], now=day + 86_500) == {user.pk: 1}
    other = make_user()
    assert quota_table.count(other.pk, at(61)) == [1, 1]  # accounts apart
    assert quota_table.count(user.pk, at(86_401)) == [2, 2]


@pytest.mark.django_db
def test_database_counts_are_unlogged():
    """Counting must not wait for a WAL flush: a request's count is no durable write."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'api_quotacount'")
        assert cursor.fetchone() == ("u",)


@pytest.mark.django_db
def test_database_count_reads_another_value_in_the_same_statement(make_user):
    from synchronex.api import quota_table

    user = make_user()
    counts = quota_table.count(user.pk, ratelimit.Windows.at(), also=("SELECT %s::int * 2", [21]))
    assert counts == [1, 1, 42]


def test_login_form_is_throttled_per_ip(api):
    # Twelve logins take a few seconds: start them well inside one throttle window, or the count
    # starts again half-way through.
    wait_for_fresh_ip_window(20)
    login = api.base_url + "/accounts/login/"
    session = api.session
    session.get(login)
    token = session.cookies.get("csrftoken")
    answers = [
        session.post(
            login,
            data={"username": "nobody@example.com", "password": "wrong", "csrfmiddlewaretoken": token},
            headers={"Referer": login},
        )
        for _ in range(12)
    ]
    assert [a.status_code for a in answers[:10]] == [200] * 10  # the form again, with an error
    assert [a.status_code for a in answers[10:]] == [429, 429]
    # The page says when to come back, as the API's 429s do: within the window's minute.
    assert all(1 <= int(a.headers["Retry-After"]) <= 60 for a in answers[10:])


@pytest.mark.django_db
def test_cache_entries_expire_when_they_should():
    from django.core.cache import cache
    from django.db import connection

    cache.set("short-lived", "v", 30)
    assert cache.add("counter", 1, 90)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT cache_key, EXTRACT(EPOCH FROM expires - now()) FROM synchronex_cache WHERE cache_key LIKE %s",
            ["%short-lived%"],
        )
        ((_, left_set),) = cursor.fetchall()
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM expires - now()) FROM synchronex_cache WHERE cache_key LIKE '%counter%'"
        )
        (left_add,) = cursor.fetchone()
    assert 25 < left_set <= 31 and 85 < left_add <= 91
    assert cache.incr("counter") == 2 and cache.get("counter") == 2
    assert cache.get("short-lived") == "v"
