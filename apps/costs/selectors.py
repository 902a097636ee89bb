"""Cost summaries (SPEC §9): totals and every breakdown aggregated by one SQL statement."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from apps.products.models import ProductState
from apps.scopes.models import Space

DAYS_DEFAULT = 30
DAYS_MAX = 365

# Totals and every breakdown in one pass over the period's events, each set in its own hash
# table: one query per breakdown read a busy space's year five or six times and sorted it for the
# daily one (on disk at 45,000 events). One statement also sees one snapshot, so the totals always
# equal the sum of each breakdown. ``OFFSET 0`` keeps ``day`` a column of a subquery the planner
# does not flatten: it then takes the default estimate of its distinct values (200) instead of
# those of ``occurred_at`` (every event), which made it sort the events for ``day`` rather than
# hash at most 365 days. A row's breakdown is its set's GROUPING() bitmask (a bit per column not
# grouped by, the first column highest). Rows come in the response's order: highest spend first,
# ties by volume, then by name (a row's columns outside its set are null). by_operation is only
# answered for one product but always grouped: GROUPING() takes grouped columns only.
_SUMMARY_SQL = """
SELECT f.breakdown, f.product_id, p.name, f.provider, f.model, f.operation, f.day,
       f.cost, f.in_tokens, f.out_tokens, f.requests, f.unpriced_requests
FROM (
    SELECT GROUPING(e.product_id, e.provider, e.model, e.operation, e.day) AS breakdown,
           e.product_id, e.provider, e.model, e.operation, e.day,
           COALESCE(SUM(e.cost_usd), 0) AS cost,
           COALESCE(SUM(e.input_tokens), 0) AS in_tokens,
           COALESCE(SUM(e.output_tokens), 0) AS out_tokens,
           COUNT(*) AS requests,
           COUNT(*) FILTER (WHERE e.unpriced) AS unpriced_requests
    FROM (
        SELECT product_id, provider, model, operation, cost_usd, input_tokens, output_tokens, unpriced,
               (occurred_at AT TIME ZONE 'UTC')::date AS day
        FROM "costs_costevent"
        WHERE space_id = %(space)s AND occurred_at >= %(start)s AND occurred_at < %(end)s {product_filter}
        OFFSET 0
    ) AS e
    GROUP BY GROUPING SETS ((), (e.product_id), (e.provider), (e.provider, e.model), (e.operation), (e.day))
) AS f
LEFT JOIN "products_productstate" AS p ON p.id = f.product_id
ORDER BY f.breakdown, f.cost DESC, f.requests DESC, p.name, f.provider, f.model, f.operation
"""
_BREAKDOWNS = {
    0b11111: "totals",
    0b01111: "by_product",
    0b10111: "by_provider",
    0b10011: "by_model",
    0b11101: "by_operation",
    0b11110: "daily",
}
_METRICS = ("cost", "in_tokens", "out_tokens", "requests", "unpriced_requests")


def _summary_rows(*, space: Space, start: datetime, end: datetime, product: ProductState | None) -> dict:
    """``{breakdown: [row, ...]}`` of the period's events, each row a dict of its keys and metrics."""
    params = {"space": space.pk, "start": start, "end": end}
    sql = _SUMMARY_SQL.format(
        product_filter="AND product_id = %(product)s" if product is not None else "",
    )
    if product is not None:
        params["product"] = product.pk
    rows: dict[str, list[dict]] = {name: [] for name in _BREAKDOWNS.values()}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = ["breakdown", "product_id", "product__name", "provider", "model", "operation", "day", *_METRICS]
        for values in cursor.fetchall():
            row = dict(zip(columns, values, strict=True))
            rows[_BREAKDOWNS[row["breakdown"]]].append(row)
    return rows


def _figures(row: dict) -> dict:
    """The metric part of one aggregate row, in the response's names and types."""
    return {
        "cost_usd": Decimal(row["cost"]),
        "input_tokens": int(row["in_tokens"]),
        "output_tokens": int(row["out_tokens"]),
        "requests": int(row["requests"]),
        "unpriced_requests": int(row["unpriced_requests"]),
    }


def period_bounds(*, days: int, now: datetime) -> tuple[datetime, datetime]:
    """The last ``days`` UTC calendar days, today included: from midnight UTC ``days - 1`` days
    ago up to, not including, the next midnight UTC. Whole days, not up to ``now``: ingest takes
    costs dated up to a day ahead, and one dated later today belongs in today's totals at once.
    Costs dated tomorrow wait until their day is in the period."""
    today = now.astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)
    return start, datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC)


def cost_summary(
    *, space: Space, days: int = DAYS_DEFAULT, product: ProductState | None = None, now: datetime | None = None
) -> dict:
    """Totals and breakdowns of ``space``'s cost events in the period (optionally one product's).

    Money is a ``Decimal`` with 6 decimal places; unpriced events count in ``requests``,
    ``unpriced_requests`` and the token sums but add nothing to ``cost_usd``. ``daily`` lists
    every day of the period, oldest first, days without events included with zeros.
    """
    now = now or timezone.now()
    start, end = period_bounds(days=days, now=now)
    rows = _summary_rows(space=space, start=start, end=end, product=product)
    zero = _figures({"cost": 0, "in_tokens": 0, "out_tokens": 0, "requests": 0, "unpriced_requests": 0})
    totals = _figures(rows["totals"][0])  # the empty set's one row, there even without events
    by_product = [
        {"product": row["product__name"], "product_id": row["product_id"], **_figures(row)}
        for row in rows["by_product"]
    ]
    by_provider = [{"provider": row["provider"], **_figures(row)} for row in rows["by_provider"]]
    by_model = [{"provider": row["provider"], "model": row["model"], **_figures(row)} for row in rows["by_model"]]
    per_day = {row["day"]: _figures(row) for row in rows["daily"]}
    by_operation = (
        [{"operation": row["operation"], **_figures(row)} for row in rows["by_operation"]]
        if product is not None
        else None
    )

    first_day: date = start.date()
    daily = [{"date": day, **per_day.get(day, zero)} for day in (first_day + timedelta(days=n) for n in range(days))]
    summary = {
        "period": {"days": days, "from": start, "to": end},
        "currency": "USD",
        "total_cost_usd": totals["cost_usd"],
        "input_tokens": totals["input_tokens"],
        "output_tokens": totals["output_tokens"],
        "requests": totals["requests"],
        "unpriced_requests": totals["unpriced_requests"],
        "by_product": by_product,
        "by_provider": by_provider,
        "by_model": by_model,
        "daily": daily,
    }
    if by_operation is not None:
        summary["by_operation"] = by_operation
    return summary
