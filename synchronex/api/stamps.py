"""What an API request may reuse from the account's earlier requests in this process, kept exact
by context stamps.

Every API request reads its account's *context stamp* in a statement it runs anyway: the one that
looks its API key up (and counts its quota), or the one that counts its quota. Triggers (migration
``api.0004``) give an account a new stamp, in the changing transaction itself, whenever a committed
change can alter what is remembered here: a space, a membership (a join or a leave stamps everyone
in the workspace, migration ``api.0007``: its answers are redacted of its members' personal keys),
the stored active scope, a kernel layer, a space's embedding settings (migration ``memory.0005``), a
space's BYOK keys (migrations ``byok.0002``, ``byok.0004`` and ``byok.0005``: the identity read's
block is redacted of them, a workspace's of its members' personal keys too), or a user (see those
migrations for who is stamped by what).
Stamps come from one sequence, so
no two changes share one, and an account without a stamp row reads 0 (rows are never deleted).
A trigger stamps the people it sees, so someone joining a space and a change that stamps the
space's people take turns on row locks (migrations ``api.0006`` and ``api.0007``; a leave is such a
change, and so is a change of the joiner's own personal keys): otherwise a member whose join
committed while such a change was in flight read the old value and kept it under a stamp nobody
renewed.

So a value remembered under stamp S was loaded after S was read, and S is still the account's stamp
only if nothing it depends on has changed since: serving it is the same as loading it again. Any
other stamp drops it. Credentials are not remembered: each request reads its key or token afresh,
so a revoked key fails on its next request in every process. Requests without a stamp (the MCP
endpoint counts its quota without one) remember nothing.

Remembered (``remembered``): a request's active space (with the space's embedding settings), per
user and scope header; the effective Identity Kernel, per space and user; and the identity read's
rendered body. At most ``MAX_ENTRIES`` values and about ``MAX_BYTES`` of them per process, the
least recently used dropped first: an account holds many spaces, each with a kernel and a body of
up to a few hundred kilobytes, so a count alone let one account fill a process with gigabytes.
Sizes are estimates (``size_of``), made once per load. Values are shared between the account's
requests: nothing may change them.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import fields, is_dataclass

from synchronex.api.rows import fetch_all

MAX_ENTRIES = 10_000
MAX_BYTES = 64 * 1024 * 1024
# A value counted at more than this is not remembered: it would push out a crowd of small ones.
MAX_VALUE_BYTES = MAX_BYTES // 16
_SQL = "SELECT coalesce((SELECT s.stamp FROM api_contextstamp s WHERE s.user_id = {user}), 0)"

# key → (stamp, value, size), least recently used first. Web processes are single-threaded (sync
# workers); the lock keeps the order and the byte count whole under a threaded development server.
_entries: OrderedDict = OrderedDict()
_bytes = 0
_lock = threading.Lock()


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


def size_of(value, _depth: int = 0) -> int:
    """About how many bytes ``value`` holds: strings, bytes and numbers by ``sys.getsizeof``,
    containers and dataclasses with what they hold (to a small depth), any other object (a model
    instance) by its attributes once over."""
    size = sys.getsizeof(value, 64)
    if _depth > 6 or isinstance(value, str | bytes | int | float | bool) or value is None:
        return size
    if isinstance(value, dict):
        return size + sum(size_of(k, _depth + 1) + size_of(v, _depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return size + sum(size_of(item, _depth + 1) for item in value)
    if is_dataclass(value):
        return size + sum(size_of(getattr(value, f.name), _depth + 1) for f in fields(value))
    attributes = getattr(value, "__dict__", None)
    if attributes is not None and _depth < 2:
        return size + size_of(attributes, _depth + 1)
    return size


def remembered(request, key: tuple, load, *, keep=None):
    """``load()``'s value for ``key``, reused while the request's account keeps its stamp.

    A value is remembered only if ``keep(value)`` allows it (default: always). Callers copy what
    they must not share between requests.
    """
    global _bytes
    stamp = getattr(request, "context_stamp", None)
    if stamp is None:
        return load()
    key = (request.user.pk, *key)
    with _lock:
        entry = _entries.get(key)
        if entry is not None and entry[0] == stamp:
            _entries.move_to_end(key)
            return entry[1]
    value = load()
    if keep is not None and not keep(value):
        return value
    size = size_of(value)
    if size > MAX_VALUE_BYTES:
        return value
    with _lock:
        old = _entries.pop(key, None)
        if old is not None:
            _bytes -= old[2]
        while _entries and (len(_entries) >= MAX_ENTRIES or _bytes + size > MAX_BYTES):
            _bytes -= _entries.popitem(last=False)[1][2]
        _entries[key] = (stamp, value, size)
        _bytes += size
    return value


def remembered_bytes() -> int:
    """The estimated bytes this process remembers (``MAX_BYTES`` at most)."""
    return _bytes


def forget() -> None:
    """Drop everything remembered in this process (tests)."""
    global _bytes
    with _lock:
        _entries.clear()
        _bytes = 0
