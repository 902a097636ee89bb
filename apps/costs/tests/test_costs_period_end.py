"""The cost period is whole UTC calendar days: today counts to its last microsecond, so an
``ai_usage`` signal ingest accepted (up to a day ahead) and dated later today is in the totals and
today's ``daily`` row at once; one dated tomorrow waits for tomorrow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.costs.tests.test_costs_api import URL, summary

pytestmark = pytest.mark.django_db(transaction=True)


def usage(occurred_at: datetime, cost: str) -> dict:
    return {
        "type": "ai_usage",
        "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "cost_usd": cost},
    }


@pytest.fixture
def ingested(write_api):
    """Three costs ingested over HTTP: a minute from now, today's last microsecond, tomorrow's first."""
    now = timezone.now().astimezone(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
    last_of_today = tomorrow - timedelta(microseconds=1)
    signals = [
        usage(min(now + timedelta(seconds=60), last_of_today), "0.01"),
        usage(last_of_today, "0.02"),
        usage(tomorrow, "0.04"),
    ]
    response = write_api.post("/api/v1/ingest/Alpha", json={"signals": signals})
    assert response.status_code == 202, response.text
    assert [s["status"] for s in response.json()["signals"]] == ["applied"] * 3
    return tomorrow


@pytest.mark.parametrize("path", [URL, f"{URL}/Alpha"])
def test_costs_dated_later_today_count_at_once_and_tomorrows_wait(read_api, ingested, path):
    body = summary(read_api, path, days=1)

    assert body["total_cost_usd"] == Decimal("0.03") and body["requests"] == 2
    (today,) = body["daily"]
    assert today["date"] == (ingested - timedelta(days=1)).date().isoformat()
    assert today["cost_usd"] == Decimal("0.03") and today["requests"] == 2
    # The period ends where tomorrow begins, not at the time of the request.
    assert body["period"]["from"] == (ingested - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["period"]["to"] == ingested.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_longer_period_ends_with_today_too(read_api, ingested):
    body = json.loads(read_api.get(URL, params={"days": 7}).text, parse_float=Decimal)

    assert body["total_cost_usd"] == Decimal("0.03")
    assert [row["date"] for row in body["daily"]][-1] == (ingested - timedelta(days=1)).date().isoformat()
    assert body["daily"][-1]["requests"] == 2 and sum(row["requests"] for row in body["daily"]) == 2
