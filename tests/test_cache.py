"""The embedded cache's cull of expired rows (off in other tests: see conftest.py)."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.db import connection

from synchronex.api.cache import PostgresCache

pytestmark = pytest.mark.django_db


@pytest.fixture
def cache():
    store = caches["default"]
    if not isinstance(store, PostgresCache):
        pytest.skip("the embedded cache is not in use (REDIS_URL is set)")
    return store


def stored_keys(cache) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT cache_key FROM {cache._table}")
        return {row[0] for row in cursor.fetchall()}


def expire(cache, key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {cache._table} SET expires = now() - interval '1 minute' WHERE cache_key = %s",
            [cache.make_and_validate_key(key)],
        )


@pytest.mark.parametrize("probability, culled", [(1, True), (0, False)])
def test_a_write_culls_expired_rows_at_the_configured_rate(cache, monkeypatch, probability, culled):
    cache.set("old", 1, 60)
    expire(cache, "old")
    cache.set("live", 1, 60)
    monkeypatch.setattr("synchronex.api.cache.CULL_PROBABILITY", probability)
    assert cache.incr_counters([("counter", 60)]) == [1]
    keys = stored_keys(cache)
    assert cache.make_and_validate_key("live") in keys and cache.make_and_validate_key("counter") in keys
    assert (cache.make_and_validate_key("old") not in keys) is culled
    assert cache.get("old") is None  # expired either way
