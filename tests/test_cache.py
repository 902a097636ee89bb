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
    assert cache.add("counter", 1, 60)
    keys = stored_keys(cache)
    assert cache.make_and_validate_key("live") in keys and cache.make_and_validate_key("counter") in keys
    assert (cache.make_and_validate_key("old") not in keys) is culled
    assert cache.get("old") is None  # expired either way


def test_redis_counts_several_counters_in_one_round_trip():
    """The Redis cache's ``incr_many`` (the quota's two windows): created with their lifetime,
    counted atomically, readable as integers by the cache's own ``get_many`` (the admin's usage)."""
    from tests.support import servers

    if servers.redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    from synchronex.api.cache import RedisCache

    with servers.redis_server() as url:
        redis_cache = RedisCache(url, {})
        client = redis_cache.client.get_client(write=True)
        calls = []
        original = client.pipeline

        def pipeline(*args, **kwargs):
            calls.append(kwargs)
            return original(*args, **kwargs)

        client.pipeline = pipeline
        assert redis_cache.incr_many([("a", 60), ("b", 86_460)]) == [1, 1]
        assert redis_cache.incr_many([("a", 60), ("b", 86_460)]) == [2, 2]
        assert len(calls) == 2 and all(call.get("transaction") for call in calls)
        assert redis_cache.get_many(["a", "b"]) == {"a": 2, "b": 2}
        ttls = [client.ttl(redis_cache.client.make_key(key)) for key in ("a", "b")]
        assert 0 < ttls[0] <= 60 and 86_000 < ttls[1] <= 86_460
