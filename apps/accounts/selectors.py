"""Reads for accounts that sit on the hot path of every request."""

from __future__ import annotations

import functools

from apps.accounts.models import ApiKey, User
from synchronex.api import key_prefetch, ratelimit, stamps
from synchronex.api.rows import Rows, fetch_all

_KEY = Rows(ApiKey, "k")
_USER = Rows(User, "u")
# The key lookup, written out once: every API request runs it, and compiling the equivalent ORM
# query (select_related + filter) costs several times more than the query itself. ``found`` is the
# key with its user and whether the key is live (the conditions of ``api_key_authenticate``); the
# statement returns it with the account's context stamp, and, when it also counts the request
# (``counted``: a data-modifying CTE over ``found``), each window's count.
_FOUND = (
    "WITH found AS (SELECT {k}, {u}, (k.revoked_at IS NULL AND u.is_active "
    "AND (k.expires_at IS NULL OR k.expires_at > now())) AS live "
    "FROM {kt} k JOIN {ut} u ON u.{upk} = k.{kfk} WHERE k.{digest} = %s){{counted}} "
    "SELECT found.*, {stamp}{{counts}} FROM found{{join}}"
).format(
    k=_KEY.columns,
    u=_USER.columns,
    kt=ApiKey._meta.db_table,
    ut=User._meta.db_table,
    upk=User._meta.pk.column,
    kfk=ApiKey._meta.get_field("user").column,
    digest=ApiKey._meta.get_field("digest").column,
    stamp=stamps.stamp_sql("found.user_id"),
)
_KEY_SQL = _FOUND.format(counted="", counts="", join="")
# After the key's and the user's columns: live, the stamp, then any counts.
_EXTRA = _KEY.width + _USER.width


def api_key_statement(digest: str, *, counts: bool) -> tuple[str, list, ratelimit.Windows | None]:
    """The key lookup for ``digest``: its SQL, its parameters, and the quota windows it counts the
    request in (None when it counts nothing: ``counts`` is false, or the quota is not kept in
    PostgreSQL)."""
    counting = ratelimit.counting_statement("found.user_id", where="found.live") if counts else None
    if counting is None:
        return _KEY_SQL, [digest], None
    windows, cte, params = counting
    return _counting_sql(cte), [digest, *params], windows


def api_key_by_digest(digest: str, *, request=None) -> ApiKey | None:
    """The key with this digest and its user (``key.user`` loaded), in one query; None if unknown.

    With ``request`` (an API request, which counts against its account's quota), the account's
    context stamp (``synchronex/api/stamps.py``), read by the same statement, goes to
    ``request.context_stamp``; when the quota is kept in PostgreSQL the statement also counts the
    request if the key is live (``request.quota_counts``, judged later by ``ratelimit.consume``):
    one round trip for what took three. A dead key (revoked, expired, or its user deactivated) counts
    nothing. The statement may already have been sent as the request arrived
    (``synchronex/api/key_prefetch.py``); its result is then taken instead.
    """
    prefetched = key_prefetch.take(request, digest) if request is not None else None
    if prefetched is not None:
        rows, windows = prefetched
    else:
        sql, params, windows = api_key_statement(digest, counts=request is not None)
        rows = fetch_all(sql, params)
    if not rows:
        return None
    row = rows[0]
    key = _KEY.build(row[: _KEY.width])
    key.user = _USER.build(row[_KEY.width : _EXTRA])
    if request is not None:
        request.context_stamp = row[_EXTRA + 1]
        counts = row[_EXTRA + 2 :]
        if windows is not None and row[_EXTRA]:
            request.quota_counts = (windows, list(counts))
    return key


@functools.cache
def _counting_sql(cte: str) -> str:
    """The key lookup that also counts the request (``cte``, over ``found``) and returns each
    window's count (nothing counted, so NULLs, for a dead key)."""
    return _FOUND.format(counted=f", counted AS ({cte})", counts=", counted.*", join=" LEFT JOIN counted ON true")
