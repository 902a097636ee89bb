"""Cost summaries (SPEC §9), aggregated in SQL over one consistent snapshot."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from apps.products.models import ProductState
from apps.scopes.models import Space

from .models import COST_DECIMAL_PLACES, CostEvent

DAYS_DEFAULT = 30
DAYS_MAX = 365

_MONEY = DecimalField(max_digits=30, decimal_places=COST_DECIMAL_PLACES)


def _metrics() -> dict:
    return {
        "cost": Coalesce(Sum("cost_usd"), Value(Decimal(0)), output_field=_MONEY),
        "in_tokens": Coalesce(Sum("input_tokens"), 0),
        "out_tokens": Coalesce(Sum("output_tokens"), 0),
        "requests": Count("id"),
        "unpriced_requests": Count("id", filter=Q(unpriced=True)),
    }


def _figures(row: dict) -> dict:
    """The metric part of one aggregate row, in the response's names and types."""
    return {
        "cost_usd": Decimal(row["cost"]),
        "input_tokens": int(row["in_tokens"]),
        "output_tokens": int(row["out_tokens"]),
        "requests": int(row["requests"]),
        "unpriced_requests": int(row["unpriced_requests"]),
    }


def _grouped(events: QuerySet[CostEvent], *keys: str, order: tuple[str, ...]) -> list[dict]:
    # Highest spend first; ties by volume, then by name, so the order is stable.
    rows = events.order_by().values(*keys).annotate(**_metrics()).order_by("-cost", "-requests", *order)
    return list(rows)


def period_bounds(*, days: int, now: datetime) -> tuple[datetime, datetime]:
    """The last ``days`` UTC calendar days, today included: from midnight UTC ``days - 1`` days
    ago up to, not including, the next midnight UTC. Whole days, not up to ``now``: ingest takes
    costs dated up to a day ahead, and one dated later today belongs in today's totals at once.
    Costs dated tomorrow wait until their day is in the period."""
    today = now.astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)
    return start, datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC)


@contextmanager
def _snapshot():
    """One REPEATABLE READ snapshot for the whole summary, so totals equal the sum of every
    breakdown even while events arrive. Inside an outer transaction, that transaction's view is used."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


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
    events = CostEvent.objects.filter(space=space, occurred_at__gte=start, occurred_at__lt=end)
    if product is not None:
        events = events.filter(product=product)

    with _snapshot():
        totals = _figures(events.aggregate(**_metrics()))
        by_product = [
            {"product": row["product__name"], "product_id": row["product_id"], **_figures(row)}
            for row in _grouped(events, "product_id", "product__name", order=("product__name",))
        ]
        by_provider = [
            {"provider": row["provider"], **_figures(row)} for row in _grouped(events, "provider", order=("provider",))
        ]
        by_model = [
            {"provider": row["provider"], "model": row["model"], **_figures(row)}
            for row in _grouped(events, "provider", "model", order=("provider", "model"))
        ]
        per_day = {
            row["day"]: _figures(row)
            for row in events.order_by()
            .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
            .values("day")
            .annotate(**_metrics())
        }
        by_operation = (
            [
                {"operation": row["operation"], **_figures(row)}
                for row in _grouped(events, "operation", order=("operation",))
            ]
            if product is not None
            else None
        )

    zero = _figures({"cost": 0, "in_tokens": 0, "out_tokens": 0, "requests": 0, "unpriced_requests": 0})
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
