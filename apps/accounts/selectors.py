"""Reads for accounts that sit on the hot path of every request."""

from __future__ import annotations

import functools

from apps.accounts.models import ApiKey, User
from synchronex.api import ratelimit, stamps
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


def api_key_by_digest(digest: str, *, request=None) -> ApiKey | None:
    """The key with this digest and its user (``key.user`` loaded), in one query; None if unknown.

    With ``request`` (an API request, which counts against its account's quota), the same statement
    also reads the account's context stamp (``synchronex/api/stamps.py``) into
    ``request.context_stamp`` and, on the PostgreSQL cache, counts the request when the key is
    live (``request.quota_counts``, judged later by ``ratelimit.consume``): one round trip for what
    took three. A dead key (revoked, expired, or its user deactivated) counts nothing.
    """
    if request is None:
        rows = fetch_all(_KEY_WITH_USER_SQL, [digest])
        counting = None
    else:
        counting = ratelimit.counting_statement("found.user_id::text")
        if counting is None:
            rows = fetch_all(_KEY_CONTEXT_SQL, [digest])
        else:
            windows, (cte, params, parts), cache = counting
            picks = [value for part in parts for value in part]
            rows = fetch_all(_counting_sql(cte, len(parts)), [digest, *params, *picks, digest])
            cache.cull_sometimes()
    if not rows:
        return None
    row = rows[0]
    key = _KEY.build(row[: _KEY.width])
    key.user = _USER.build(row[_KEY.width : _KEY.width + _USER.width])
    if request is not None:
        extra = row[_KEY.width + _USER.width :]
        request.context_stamp = extra[0]
        if counting is not None and all(count is not None for count in extra[1:]):
            request.quota_counts = (windows, list(extra[1:]))
    return key


# The key lookup of an API request: the key, its user and the account's context stamp.
_KEY_CONTEXT = (
    "SELECT {k}, {u}, {stamp}{{counts}} FROM {kt} k JOIN {ut} u ON u.{upk} = k.{kfk} WHERE k.{digest} = %s"
).format(
    k=_KEY.columns,
    u=_USER.columns,
    stamp=stamps.stamp_sql("k.user_id"),
    kt=ApiKey._meta.db_table,
    ut=User._meta.db_table,
    upk=User._meta.pk.column,
    kfk=ApiKey._meta.get_field("user").column,
    digest=ApiKey._meta.get_field("digest").column,
)
_KEY_CONTEXT_SQL = _KEY_CONTEXT.format(counts="")


@functools.cache
def _counting_sql(cte: str, windows: int) -> str:
    """The key lookup that also counts the request against its account's quota (when the key is
    live: the conditions of ``api_key_authenticate``) and returns each window's count."""
    counts = ", ".join(["(SELECT n.counter FROM counted n WHERE n.cache_key = %s || k.user_id::text || %s)"] * windows)
    return (
        "WITH found AS (SELECT k.user_id FROM accounts_apikey k JOIN accounts_user u ON u.id = k.user_id "
        "WHERE k.digest = %s AND k.revoked_at IS NULL AND u.is_active "
        "AND (k.expires_at IS NULL OR k.expires_at > now())), "
        f"counted AS ({cte}) " + _KEY_CONTEXT.format(counts=", " + counts)
    )
