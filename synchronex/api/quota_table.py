"""The account quota on PostgreSQL: both windows' counts in one row per account (``api.QuotaCount``).

One upsert counts a request in its clock minute and its UTC day. A window's count restarts at 1
when the request's window is newer than the row's; a request whose window is older than the
row's (from a web process whose clock lags another's across the turn of a minute) counts in the
row's newer window instead of restarting it, so a count never flaps between two windows and no
window admits more than its limit. The upsert holds the row's lock until its statement commits,
so concurrent requests never lose a count.

``ratelimit`` uses this store when the quota cache (``RATELIMIT_USE_CACHE``) is the PostgreSQL
cache; on Redis the counters are Redis keys.
"""

from __future__ import annotations

import functools

from synchronex.api.models import QuotaCount
from synchronex.api.rows import fetch_all

TABLE = QuotaCount._meta.db_table
# The windows kept, in the order of ratelimit.WINDOWS (and of the counts returned).
WINDOWS = ("minute", "day")

_UPSERT = (
    f"INSERT INTO {TABLE} AS q (user_id, minute, minute_count, day, day_count) {{rows}} "
    "ON CONFLICT (user_id) DO UPDATE SET "
    "minute_count = CASE WHEN q.minute >= EXCLUDED.minute THEN q.minute_count + 1 ELSE 1 END, "
    "minute = GREATEST(q.minute, EXCLUDED.minute), "
    "day_count = CASE WHEN q.day >= EXCLUDED.day THEN q.day_count + 1 ELSE 1 END, "
    "day = GREATEST(q.day, EXCLUDED.day) "
    "RETURNING q.minute_count, q.day_count"
)


def starts(windows) -> list[int]:
    """The starts of a request's windows (``ratelimit.Windows``): the upsert's parameters."""
    return [windows.start(window) for window in WINDOWS]


@functools.cache
def counting_cte(owner: str, where: str) -> str:
    """The upsert as the body of a data-modifying CTE over a ``found`` CTE that the caller
    defines (at most one row): it counts a request of the account ``owner`` (an SQL expression
    over ``found``) when ``where`` holds, and returns ``minute_count, day_count``. Its parameters:
    ``starts(windows)``."""
    return _UPSERT.format(rows=f"SELECT {owner}, %s, 1, %s, 1 FROM found WHERE {where}")


def count(owner_pk, windows, *, also: tuple[str, list] | None = None) -> list:
    """Count one request of the account; returns its counts in ``WINDOWS`` order, then the value
    of ``also`` (a scalar query ``(sql, params)``, run in the same statement) when given."""
    sql = _UPSERT.format(rows="VALUES (%s::uuid, %s, 1, %s, 1)")
    params = [owner_pk, *starts(windows)]
    if also is not None:
        sql = f"WITH counted AS ({sql}) SELECT counted.*, ({also[0]}) FROM counted"
        params += also[1]
    return list(fetch_all(sql, params)[0])


def day_counts(owner_pks: list, day: int) -> dict:
    """Requests each account made in the UTC day starting at ``day`` (Unix seconds), by pk."""
    rows = fetch_all(f"SELECT user_id, day_count FROM {TABLE} WHERE user_id = ANY(%s) AND day = %s", [owner_pks, day])
    found = dict(rows)
    return {pk: found.get(pk, 0) for pk in owner_pks}
