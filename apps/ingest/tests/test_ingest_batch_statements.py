"""A batch's immediate signals cost statements per batch, not per signal, where the rules allow.

``ai_usage`` cost events are inserted together; ``decision`` signals share one product lookup,
one keying of their ``affects_products`` and one update linking the signals to their decisions.
Each decision is still created by ``decision_create`` (the one home of a decision's rules): its
insert, in a savepoint, is what grows with the batch.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.costs.models import CostEvent
from apps.decisions.models import Decision
from apps.ingest.models import Signal

pytestmark = pytest.mark.django_db

PRODUCT_LOOKUP = "SELECT p.id"  # apps.products.selectors' lookup by name
NAME_KEYS = "SELECT lower(n)"  # apps.products.names' keys of names
SIGNAL_UPDATE = 'UPDATE "ingest_signal"'
DECISION_INSERT = 'INSERT INTO "decisions_decision"'


def usage(index: int) -> dict:
    return {
        "type": "ai_usage",
        "data": {
            "provider": "OpenAI",
            "model": "gpt-4o",
            "input_tokens": index,
            "output_tokens": 1,
            "cost_usd": "0.01",
        },
    }


def decision(index: int) -> dict:
    return {"type": "decision", "title": f"use plan {index}", "data": {"affects_products": ["Beta", "beta", "Gamma"]}}


def post(client, signals: list[dict]) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/v1/ingest/Atlas", {"signals": signals}, format="json")
    assert response.status_code == 202, response.content
    return response.json(), [query["sql"] for query in captured.captured_queries]


def test_ai_usage_signals_take_the_same_statements_for_20_as_for_100(user, inproc_for):
    client = inproc_for(user, "write")
    post(client, [{"type": "note", "title": "the product exists"}])
    _, twenty = post(client, [usage(i) for i in range(20)])
    body, hundred = post(client, [usage(i) for i in range(100)])
    assert len(hundred) == len(twenty), hundred

    assert [entry["status"] for entry in body["signals"]] == ["applied"] * 100
    events = CostEvent.objects.filter(signal_id__in=[entry["id"] for entry in body["signals"]])
    assert sorted(events.values_list("input_tokens", flat=True)) == list(range(100))
    assert {(e.provider, e.cost_usd, e.unpriced, e.source, e.product.name) for e in events} == {
        ("openai", Decimal("0.010000"), False, "ingest", "Atlas")
    }


def test_decision_signals_find_their_product_and_key_their_affects_once_per_batch(user, inproc_for):
    client = inproc_for(user, "write")
    post(client, [{"type": "note", "title": "the product exists"}])
    _, twenty = post(client, [decision(i) for i in range(20)])
    body, hundred = post(client, [decision(i) for i in range(100)])

    for prefix in (PRODUCT_LOOKUP, NAME_KEYS, SIGNAL_UPDATE):
        assert sum(sql.startswith(prefix) for sql in hundred) <= 1, prefix
    assert sum(sql.startswith(DECISION_INSERT) for sql in hundred) == 100
    # What still grows: each decision's insert and the savepoint decision_create runs in.
    assert len(hundred) - len(twenty) <= 3 * 80, len(hundred) - len(twenty)

    ids = [entry["id"] for entry in body["signals"]]
    linked = dict(Signal.objects.filter(pk__in=ids).values_list("pk", "decision__decision"))
    assert [linked[Signal._meta.pk.to_python(pk)] for pk in ids] == [f"use plan {i}" for i in range(100)]
    stored = Decision.objects.filter(decision__startswith="use plan ")
    assert {tuple(d.affects_products) for d in stored} == {("Beta", "Gamma")}
    assert {d.product.name for d in stored} == {"Atlas"}
