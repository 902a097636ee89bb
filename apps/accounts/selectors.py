"""Reads for accounts that sit on the hot path of every request."""

from __future__ import annotations

from apps.accounts.models import ApiKey, User
from synchronex.api.rows import Rows, fetch_all

_KEY = Rows(ApiKey, "k")
_USER = Rows(User, "u")
# One join, written out once: every API request runs it, and compiling the equivalent ORM
# query (select_related + filter) costs several times more than the query itself.
_KEY_WITH_USER_SQL = "SELECT {k}, {u} FROM {kt} k JOIN {ut} u ON u.{upk} = k.{kfk} WHERE k.{digest} = %s".format(
    k=_KEY.columns,
    u=_USER.columns,
    kt=ApiKey._meta.db_table,
    ut=User._meta.db_table,
    upk=User._meta.pk.column,
    kfk=ApiKey._meta.get_field("user").column,
    digest=ApiKey._meta.get_field("digest").column,
)


def api_key_by_digest(digest: str) -> ApiKey | None:
    """The key with this digest and its user (``key.user`` loaded), in one query; None if unknown."""
    rows = fetch_all(_KEY_WITH_USER_SQL, [digest])
    if not rows:
        return None
    row = rows[0]
    key = _KEY.build(row[: _KEY.width])
    key.user = _USER.build(row[_KEY.width :])
    return key
