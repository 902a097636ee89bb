"""Quota counting is exact under concurrency: many client processes, several server processes.

The server is gunicorn with four worker processes against the test database, once on the
embedded default (the PostgreSQL cache table) and once with Redis (``REDIS_URL``).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from tests.support import servers

CLIENT_PROCESSES = 4
THREADS_PER_PROCESS = 8
REQUESTS_PER_PROCESS = 30


def _fire(base_url: str, token: str, count: int) -> list[int]:
    """One client process: ``count`` requests over several threads; returns the statuses."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}

    def one(_):
        return session.get(base_url + "/api/v1/scope", headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
        return list(pool.map(one, range(count)))


def _storm(base_url: str, token: str) -> Counter:
    with ProcessPoolExecutor(CLIENT_PROCESSES) as pool:
        futures = [pool.submit(_fire, base_url, token, REQUESTS_PER_PROCESS) for _ in range(CLIENT_PROCESSES)]
        return Counter(status for future in futures for status in future.result())


@pytest.fixture(params=["embedded", "redis"])
def stack(request, transactional_db):
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    if request.param == "redis":
        if servers.redis_server_binary() is None:
            pytest.skip("redis-server is not installed")
        with servers.redis_server() as redis_url, servers.gunicorn({**env, "REDIS_URL": redis_url}) as base:
            yield base
    else:
        with servers.gunicorn(env) as base:
            yield base


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_day_window_admits_exactly_its_limit(stack, make_user, make_key):
    token = make_key(make_user(tier="enterprise", daily_limit=37, minute_limit=100_000))
    statuses = _storm(stack, token)
    assert statuses == Counter({200: 37, 429: CLIENT_PROCESSES * REQUESTS_PER_PROCESS - 37})


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_minute_window_admits_exactly_its_limit(stack, make_user, make_key):
    left = 60 - time.time() % 60
    if left < 20:  # do not straddle a clock minute
        time.sleep(left + 0.1)
    token = make_key(make_user(tier="enterprise", daily_limit=100_000, minute_limit=53))
    statuses = _storm(stack, token)
    assert statuses == Counter({200: 53, 429: CLIENT_PROCESSES * REQUESTS_PER_PROCESS - 53})
