"""A Django cache backend on the embedded PostgreSQL, with atomic ``add`` and ``incr``.

Django's ``DatabaseCache`` increments by read-then-write, so two processes can both read 7
and both write 8; rate-limit counters need better. Here ``incr`` is one ``UPDATE …
RETURNING`` and ``add`` one ``INSERT … ON CONFLICT``, so every hit is counted exactly under
any concurrency. Integers live in their own column so they can be incremented in SQL; other
values are pickled. The table is UNLOGGED (counters need speed, not crash durability) and is
created by the ``api`` app's migrations. Production uses Redis instead (``REDIS_URL``).
"""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.db import connections, router
from django_redis.cache import RedisCache as DjangoRedisCache

CULL_PROBABILITY = 0.01


class PostgresCache(BaseCache):
    def __init__(self, table: str, params: dict):
        super().__init__(params)
        self._table = table

    # -- helpers --------------------------------------------------------------------------------
    def _cursor(self):
        db = router.db_for_write(object) or "default"
        return connections[db].cursor()

    def _expiry(self, timeout) -> datetime:
        expires_at = self.get_backend_timeout(timeout)  # absolute Unix time, or None for "never"
        if expires_at is None:
            return datetime(9999, 12, 31, tzinfo=UTC)
        return datetime.fromtimestamp(expires_at, tz=UTC)

    @staticmethod
    def _encode(value):
        if isinstance(value, int) and not isinstance(value, bool):
            return None, value
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL), None

    @staticmethod
    def _decode(blob, counter):
        if counter is not None:
            return counter
        return pickle.loads(bytes(blob))  # noqa: S301 -- only this process family writes the table

    def _maybe_cull(self, cursor) -> None:
        if random.random() < CULL_PROBABILITY:
            cursor.execute(f"DELETE FROM {self._table} WHERE expires <= now()")

    # -- the cache API --------------------------------------------------------------------------
    def get(self, key, default=None, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._cursor() as cursor:
            cursor.execute(f"SELECT value, counter FROM {self._table} WHERE cache_key = %s AND expires > now()", [key])
            row = cursor.fetchone()
        return default if row is None else self._decode(*row)

    def get_many(self, keys, version=None):
        """One SELECT for all keys (the base class would run one query per key)."""
        mapped = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not mapped:
            return {}
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT cache_key, value, counter FROM {self._table} WHERE cache_key = ANY(%s) AND expires > now()",
                [list(mapped)],
            )
            rows = cursor.fetchall()
        return {mapped[key]: self._decode(blob, counter) for key, blob, counter in rows}

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        blob, counter = self._encode(value)
        with self._cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self._table} (cache_key, value, counter, expires) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (cache_key) DO UPDATE SET value = EXCLUDED.value, counter = EXCLUDED.counter, "
                "expires = EXCLUDED.expires",
                [key, blob, counter, self._expiry(timeout)],
            )
            self._maybe_cull(cursor)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        """Store only if absent or expired; True when this call stored it."""
        key = self.make_and_validate_key(key, version=version)
        blob, counter = self._encode(value)
        with self._cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self._table} AS c (cache_key, value, counter, expires) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (cache_key) DO UPDATE SET value = EXCLUDED.value, counter = EXCLUDED.counter, "
                "expires = EXCLUDED.expires WHERE c.expires <= now() RETURNING 1",
                [key, blob, counter, self._expiry(timeout)],
            )
            stored = cursor.fetchone() is not None
            self._maybe_cull(cursor)
        return stored

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._cursor() as cursor:
            cursor.execute(
                f"UPDATE {self._table} SET counter = counter + %s "
                "WHERE cache_key = %s AND expires > now() AND counter IS NOT NULL RETURNING counter",
                [delta, key],
            )
            row = cursor.fetchone()
        if row is None:
            raise ValueError(f"Key '{key}' not found or not a number")
        return row[0]

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._cursor() as cursor:
            cursor.execute(
                f"UPDATE {self._table} SET expires = %s WHERE cache_key = %s AND expires > now()",
                [self._expiry(timeout), key],
            )
            return cursor.rowcount > 0

    def delete(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._cursor() as cursor:
            cursor.execute(f"DELETE FROM {self._table} WHERE cache_key = %s", [key])
            return cursor.rowcount > 0

    def has_key(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {self._table} WHERE cache_key = %s AND expires > now()", [key])
            return cursor.fetchone() is not None

    def clear(self):
        with self._cursor() as cursor:
            cursor.execute(f"DELETE FROM {self._table}")


class RedisCache(DjangoRedisCache):
    """django-redis's cache, plus ``incr_many``: the quota's counters in one round trip."""

    def incr_many(self, items: list[tuple[str, int]]) -> list[int]:
        """Add one to several counters, creating any that is missing with the given timeout, in
        one MULTI/EXEC (atomic, so a counter cannot expire between its creation and its count);
        returns the new values in order."""
        pipe = self.client.get_client(write=True).pipeline(transaction=True)
        for key, ttl in items:
            name = self.client.make_key(key)
            pipe.set(name, 0, ex=ttl, nx=True)
            pipe.incr(name)
        return pipe.execute()[1::2]
