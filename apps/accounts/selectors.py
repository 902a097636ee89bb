"""Reads for accounts that sit on the hot path of every request."""

from __future__ import annotations

from django.db import connection

from apps.accounts.models import ApiKey, User

_KEY_FIELDS = list(ApiKey._meta.concrete_fields)
_USER_FIELDS = list(User._meta.concrete_fields)
# One join, written out once: every API request runs it, and compiling the equivalent ORM
# query (select_related + filter) costs several times more than the query itself.
_KEY_WITH_USER_SQL = "SELECT {k}, {u} FROM {kt} k JOIN {ut} u ON u.{upk} = k.{kfk} WHERE k.{digest} = %s".format(
    k=", ".join(f"k.{f.column}" for f in _KEY_FIELDS),
    u=", ".join(f"u.{f.column}" for f in _USER_FIELDS),
    kt=ApiKey._meta.db_table,
    ut=User._meta.db_table,
    upk=User._meta.pk.column,
    kfk=ApiKey._meta.get_field("user").column,
    digest=ApiKey._meta.get_field("digest").column,
)


def api_key_by_digest(digest: str) -> ApiKey | None:
    """The key with this digest and its user (``key.user`` loaded), in one query; None if unknown."""
    with connection.cursor() as cursor:
        cursor.execute(_KEY_WITH_USER_SQL, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_KEY_FIELDS)
    key = ApiKey.from_db(connection.alias, [f.attname for f in _KEY_FIELDS], row[:split])
    key.user = User.from_db(connection.alias, [f.attname for f in _USER_FIELDS], row[split:])
    return key
