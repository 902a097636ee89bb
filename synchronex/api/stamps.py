"""What an API request may reuse from the account's earlier requests in this process, kept exact
by context stamps.

Every API request reads its account's *context stamp* in a statement it runs anyway: the one that
looks its API key up (and counts its quota), or the one that counts its quota. Triggers (migration
``api.0004``) give an account a new stamp, in the changing transaction itself, whenever a committed
change can alter what is remembered here: a space, a membership, the stored active scope, a kernel
layer, a space's embedding settings (migration ``memory.0005``), a space's BYOK keys (migration
``byok.0002``: the identity read's block is redacted of them), or a user (see those migrations for
who is stamped by what). Stamps come from one sequence, so
no two changes share one, and an account without a stamp row reads 0 (rows are never deleted).
A trigger stamps the people it sees, so someone joining a space and a change that stamps the
space's people take turns on row locks (migration ``api.0006``): otherwise a member whose join
committed while such a change was in flight read the old value and kept it under a stamp nobody
renewed.

So a value remembered under stamp S was loaded after S was read, and S is still the account's stamp
only if nothing it depends on has changed since: serving it is the same as loading it again. Any
other stamp drops it. Credentials are not remembered: each request reads its key or token afresh,
so a revoked key fails on its next request in every process. Requests without a stamp (the MCP
endpoint counts its quota without one) remember nothing.

Remembered (``remembered``): a request's active space (with the space's embedding settings), per
user and scope header; the effective Identity Kernel, per space and user; and the identity read's
rendered body. At most
``MAX_ENTRIES`` values per process; when full, all are dropped. Values are shared between the
account's requests: nothing may change them.
"""

from __future__ import annotations

from synchronex.api.rows import fetch_all

MAX_ENTRIES = 10_000
_SQL = "SELECT coalesce((SELECT s.stamp FROM api_contextstamp s WHERE s.user_id = {user}), 0)"

_entries: dict = {}


def stamp_query(user_pk) -> tuple[str, list]:
    """The account's stamp as a scalar query ``(sql, params)``, to run inside another statement."""
    return _SQL.format(user="%s"), [user_pk]


def stamp_sql(user_expression: str) -> str:
    """The stamp of the account ``user_expression`` (SQL) as a scalar subquery."""
    return f"({_SQL.format(user=user_expression)})"


def stamp_of(user_pk) -> int:
    """The account's stamp, by a statement of its own (when no other statement can carry it)."""
    sql, params = stamp_query(user_pk)
    return fetch_all(sql, params)[0][0]


def remembered(request, key: tuple, load, *, keep=None):
    """``load()``'s value for ``key``, reused while the request's account keeps its stamp.

    A value is remembered only if ``keep(value)`` allows it (default: always). Callers copy what
    they must not share between requests.
    """
    stamp = getattr(request, "context_stamp", None)
    if stamp is None:
        return load()
    key = (request.user.pk, *key)
    entry = _entries.get(key)
    if entry is not None and entry[0] == stamp:
        return entry[1]
    value = load()
    if keep is None or keep(value):
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (stamp, value)
    return value


def forget() -> None:
    """Drop everything remembered in this process (tests)."""
    _entries.clear()
