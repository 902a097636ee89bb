"""PostgreSQL advisory locks per space: one lock class (namespace) per purpose, the space's id
folded into the second int4 key. Two spaces whose ids share their first four bytes share a key:
a rare clash only makes one wait for the other."""

from __future__ import annotations

import uuid

from django.db import connection


def space_key(space_id: uuid.UUID) -> int:
    """The int4 key of a space's advisory locks."""
    return int.from_bytes(space_id.bytes[:4], "big") & 0x7FFFFFFF


def hold_space_lock(lock_class: int, space_id: uuid.UUID) -> None:
    """Wait for the space's lock of ``lock_class`` and hold it until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [lock_class, space_key(space_id)])
