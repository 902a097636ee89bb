"""A cost summary reads the period's events once: totals and every breakdown come from one
statement (GROUPING SETS), so a year of a busy space is scanned once, not five or six times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.costs.models import CostEvent
from apps.costs.selectors import cost_summary
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def event(space, product, provider, model, cost, *, days_ago=0, operation=None, tokens=1) -> CostEvent:
    return CostEvent(
        space=space,
        product=product,
        provider=provider,
        model=model,
        operation=operation,
        input_tokens=tokens,
        output_tokens=2 * tokens,
        cost_usd=None if cost is None else Decimal(cost),
        unpriced=cost is None,
        occurred_at=NOW - timedelta(days=days_ago, minutes=1),
    )


@pytest.fixture
def seeded(user):
    space = space_ensure_personal(user=user)
    alpha, beta = product_ensure(space=space, name="alpha"), product_ensure(space=space, name="Beta")
    CostEvent.objects.bulk_create(
        [
            event(space, alpha, "openai", "m1", "0.100000", operation="chat"),
            event(space, beta, "openai", "m2", "0.100000", operation="chat", days_ago=1),
            event(space, None, "acme", "x", "0.000001", days_ago=2),
            event(space, alpha, "acme", "x", None, days_ago=3, operation="embed", tokens=5),  # a day of unpriced only
            event(space, alpha, "openai", "m1", "1.5", days_ago=40),  # outside a 30-day period
        ]
    )
    return space, alpha


@pytest.mark.parametrize("route", ["all", "product"])
def test_one_statement_reads_the_events_and_its_plan_scans_them_once(seeded, route):
    space, alpha = seeded
    with CaptureQueriesContext(connection) as captured:
        cost_summary(space=space, days=30, product=alpha if route == "product" else None, now=NOW)
    reads = [query["sql"] for query in captured.captured_queries if "costs_costevent" in query["sql"]]
    assert len(reads) == 1, reads
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (COSTS OFF) {reads[0]}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert plan.count(" on costs_costevent") == 1, plan


def test_breakdowns_are_exact_and_ordered_by_spend_then_volume_then_name(seeded):
    space, alpha = seeded
    summary = cost_summary(space=space, days=30, now=NOW)
    assert summary["total_cost_usd"] == Decimal("0.200001") and summary["requests"] == 4
    assert (summary["unpriced_requests"], summary["input_tokens"], summary["output_tokens"]) == (1, 8, 16)
    # alpha and Beta spent the same; alpha made more requests.
    assert [(row["product"], row["cost_usd"], row["requests"]) for row in summary["by_product"]] == [
        ("alpha", Decimal("0.100000"), 2),
        ("Beta", Decimal("0.100000"), 1),
        (None, Decimal("0.000001"), 1),
    ]
    assert [(row["provider"], row["model"]) for row in summary["by_model"]] == [
        ("openai", "m1"),
        ("openai", "m2"),
        ("acme", "x"),
    ]
    assert [row["provider"] for row in summary["by_provider"]] == ["openai", "acme"]
    days = {row["date"]: row for row in summary["daily"]}
    unpriced_day = days[(NOW - timedelta(days=3, minutes=1)).date()]
    assert (unpriced_day["cost_usd"], unpriced_day["requests"], unpriced_day["unpriced_requests"]) == (Decimal(0), 1, 1)
    assert len(summary["daily"]) == 30 and sum(row["requests"] for row in summary["daily"]) == 4

    one = cost_summary(space=space, days=30, product=alpha, now=NOW)
    assert [(row["operation"], row["cost_usd"], row["requests"]) for row in one["by_operation"]] == [
        ("chat", Decimal("0.100000"), 1),
        ("embed", Decimal(0), 1),
    ]
    assert one["total_cost_usd"] == Decimal("0.100000") and one["by_product"][0]["product_id"] == alpha.pk


def test_at_scale_every_breakdown_is_hashed_in_one_scan_without_sorting_the_events(seeded):
    space, alpha = seeded
    with connection.cursor() as cursor:
        # A year of 20,000 events in one statement, then fresh statistics (rolled back with the test).
        cursor.execute(
            """
            INSERT INTO costs_costevent (id, space_id, product_id, provider, model, operation, input_tokens,
                output_tokens, cost_usd, unpriced, source, occurred_at, created_at)
            SELECT gen_random_uuid(), %s, CASE WHEN i %% 2 = 0 THEN %s::uuid END, 'p' || i %% 3, 'm' || i %% 5,
                'op' || i %% 4, i, i, i / 1000.0, false, 'ingest', %s - i * interval '26 minutes', now()
            FROM generate_series(1, 20000) AS i
            """,
            [space.pk, alpha.pk, NOW],
        )
        cursor.execute("ANALYZE costs_costevent")
    with CaptureQueriesContext(connection) as captured:
        summary = cost_summary(space=space, days=365, now=NOW)
    assert summary["requests"] == 20005 and len(captured.captured_queries) == 1
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (COSTS OFF) {captured.captured_queries[0]['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert plan.count(" on costs_costevent") == 1, plan
    # Only the final ordering of the few result rows sorts; the events are hashed, never sorted.
    assert plan.count("Sort Key") == 1 and "Hash Key: ((costs_costevent.occurred_at" in plan, plan
