"""POST /api/v1/ingest/{project_id} over real HTTP: storage, immediate decisions and costs, products."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from urllib.parse import quote

import pytest

from apps.costs.models import CostEvent
from apps.decisions.models import Decision
from apps.ingest.models import Signal
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)


def ingest(client, project: str, body, status: int = 202) -> dict:
    response = client.post(f"/api/v1/ingest/{quote(project, safe='')}", json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_a_single_signal_is_stored_pending_and_creates_its_product(write_api, user):
    body = ingest(write_api, "Atlas", {"type": "blocker", "title": "  Stripe webhooks fail  ", "source": "sentry"})
    assert body["accepted"] == 1 and body["duplicates"] == 0 and body["scope"] == "personal"
    assert body["product"]["name"] == "Atlas"
    (entry,) = body["signals"]
    assert entry["type"] == "blocker" and entry["status"] == "pending"
    signal = Signal.objects.get(pk=entry["id"])
    assert signal.title == "Stripe webhooks fail" and signal.source == "sentry"
    assert signal.status == "pending" and signal.applied_at is None
    assert signal.space == space_ensure_personal(user=user)
    assert str(signal.product_id) == body["product"]["id"]
    # The state itself changes only at consolidation.
    state = write_api.get("/api/v1/memory/product/Atlas/state").json()
    assert state["what_is_blocked"] == []


def test_a_batch_keeps_order_and_applies_decisions_and_ai_usage_at_once(write_api):
    body = ingest(
        write_api,
        "Atlas",
        {
            "signals": [
                {"type": "commit", "title": "Add billing page", "external_id": "c1", "data": {"sha": "abc"}},
                {
                    "type": "decision",
                    "title": "Use Stripe for billing",
                    "body": "Best API for our volume",
                    "data": {"tags": ["Billing", "billing"], "affects_products": ["Hub"], "alternatives": ["Paddle"]},
                    "occurred_at": "2026-01-05T10:00:00Z",
                },
                {
                    "type": "ai_usage",
                    "data": {
                        "provider": "OpenAI",
                        "model": "gpt-4o",
                        "input_tokens": 1000,
                        "output_tokens": 500,
                        "operation": "chat",
                    },
                },
                {
                    "type": "ai_usage",
                    "data": {
                        "provider": "acme",
                        "model": "mystery-1",
                        "input_tokens": 5,
                        "output_tokens": 5,
                        "operation": "",
                        "cost_usd": None,
                    },
                },
                {
                    "type": "ai_usage",
                    "data": {
                        "provider": "anthropic",
                        "model": "x",
                        "input_tokens": 1,
                        "output_tokens": 2,
                        "cost_usd": 0.1234567,
                    },
                },
            ]
        },
    )
    assert body["accepted"] == 5
    assert [(s["type"], s["status"]) for s in body["signals"]] == [
        ("commit", "pending"),
        ("decision", "applied"),
        ("ai_usage", "applied"),
        ("ai_usage", "applied"),
        ("ai_usage", "applied"),
    ]
    decision_signal = Signal.objects.get(pk=body["signals"][1]["id"])
    assert decision_signal.applied_at is not None
    decision = write_api.get(f"/api/v1/memory/decisions/{decision_signal.decision_id}").json()
    assert decision["decision"] == "Use Stripe for billing"
    assert decision["reasoning"] == "Best API for our volume"
    assert decision["tags"] == ["billing"]
    assert decision["affects_products"] == ["Hub"] and decision["alternatives"] == ["Paddle"]
    assert decision["decided_at"] == "2026-01-05T10:00:00Z" and decision["source"] == "ingest"
    assert decision["product_name"] == "Atlas"

    events = {e.signal_id: e for e in CostEvent.objects.all()}
    priced = events[body["signals"][2]["id"]]
    assert priced.provider == "openai" and priced.model == "gpt-4o" and priced.operation == "chat"
    assert priced.unpriced is False and priced.cost_usd > 0 and priced.product.name == "Atlas"
    unknown = events[body["signals"][3]["id"]]
    assert unknown.unpriced is True and unknown.cost_usd is None and unknown.operation is None
    given = events[body["signals"][4]["id"]]
    assert given.cost_usd == Decimal("0.123457") and given.source == "ingest"

    order = list(Signal.objects.order_by("position").values_list("type", "position"))
    assert order == [("commit", 0), ("decision", 1), ("ai_usage", 2), ("ai_usage", 3), ("ai_usage", 4)]


# cost_usd as the JSON number sent → the amount GET /ai/costs reports. The first three lose their
# last digit through a double (9999999999.999998, …); the fourth rounds up to 1000000000 through
# one. Over 6 decimals is rounded half-up, as before, but from the digits sent.
EXACT_COSTS = [
    ("9999999999.999999", "9999999999.999999"),
    ("8929695288.728491", "8929695288.728491"),
    ("1234567890.123456", "1234567890.123456"),
    ("999999999.99999949", "999999999.999999"),
    ("0.1234567", "0.123457"),
    ("5E+2", "500"),
]


def test_a_json_number_cost_keeps_every_digit_sent_through_ingest_and_costs(write_api, read_api):
    # The body is written by hand: json.dumps would send the nearest double's spelling.
    signals = ",".join(
        f'{{"type":"ai_usage","data":{{"provider":"x","model":"m{i}","input_tokens":0,'
        f'"output_tokens":0,"cost_usd":{literal}}}}}'
        for i, (literal, _) in enumerate(EXACT_COSTS)
    )
    response = write_api.post(
        "/api/v1/ingest/Prec", data=f'{{"signals":[{signals}]}}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    costs = read_api.get("/api/v1/ai/costs/Prec", params={"days": 1})
    assert costs.status_code == 200, costs.text
    rows = {row["model"]: row["cost_usd"] for row in json.loads(costs.text, parse_float=Decimal)["by_model"]}
    assert rows == {f"m{i}": Decimal(stored) for i, (_, stored) in enumerate(EXACT_COSTS)}
    assert CostEvent.objects.get(model="m0").cost_usd == Decimal("9999999999.999999")


def test_occurred_at_at_the_floor_is_judged_by_its_utc_instant(write_api):
    # Written in 1899 with -12:00, it is 1900-01-01T00:00:00Z: the floor itself, accepted.
    at = "1899-12-31T12:00:00-12:00"
    body = ingest(
        write_api,
        "Atlas",
        {
            "signals": [
                {"type": "decision", "title": "Keep the ledger", "occurred_at": at},
                {"type": "ai_usage", "data": {"provider": "x", "model": "m", "input_tokens": 1, "output_tokens": 1}}
                | {"occurred_at": at},
            ]
        },
    )
    assert [s["status"] for s in body["signals"]] == ["applied", "applied"]
    floor = "1900-01-01T00:00:00Z"
    assert Decision.objects.get().decided_at.isoformat().replace("+00:00", "Z") == floor
    assert CostEvent.objects.get().occurred_at.isoformat().replace("+00:00", "Z") == floor


def test_project_id_may_be_a_product_id_or_any_spelling_of_its_name(write_api):
    created = write_api.post("/api/v1/memory/product/Atlas%2FWeb/state", json={"status": "active"})
    assert created.status_code == 201
    by_name = ingest(write_api, "atlas/web", {"type": "note", "body": "hello"})
    product_id = by_name["product"]["id"]
    assert by_name["product"]["name"] == "Atlas/Web"
    by_id = ingest(write_api, product_id, {"type": "note", "body": "again"})
    assert by_id["product"] == {"id": product_id, "name": "Atlas/Web"}
    assert ProductState.objects.count() == 1


def test_an_unknown_product_id_is_not_found_and_creates_nothing(write_api):
    response = write_api.post("/api/v1/ingest/5f0c2b9e-1111-4222-8333-944455556666", json={"type": "note", "body": "x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert not ProductState.objects.exists() and not Signal.objects.exists()


def test_an_impossible_product_name_is_a_validation_error(write_api):
    response = write_api.post(f"/api/v1/ingest/{'x' * 101}", json={"type": "note", "body": "x"})
    assert response.status_code == 400
    assert "project_id" in response.json()["error"]["details"]["fields"]
    assert not ProductState.objects.exists()


def test_an_external_id_is_stored_once_per_product(write_api):
    first = ingest(write_api, "Atlas", {"type": "deploy", "title": "v1", "external_id": "dep-1"})
    again = ingest(
        write_api,
        "Atlas",
        {
            "signals": [
                {"type": "deploy", "title": "v1 (resent)", "external_id": "dep-1"},
                {"type": "deploy", "title": "v2", "external_id": "dep-2"},
                {"type": "deploy", "title": "v2 twice in one batch", "external_id": "dep-2"},
                {"type": "deploy", "title": "no id"},
                {"type": "deploy", "title": "no id"},
            ]
        },
    )
    assert again["accepted"] == 3 and again["duplicates"] == 2
    statuses = [(s["status"], s["id"]) for s in again["signals"]]
    assert statuses[0] == ("duplicate", first["signals"][0]["id"])
    assert statuses[1][0] == "pending" and statuses[2] == ("duplicate", statuses[1][1])
    assert Signal.objects.filter(external_id="dep-1").get().title == "v1"
    # The same id for another product is another event.
    other = ingest(write_api, "Hub", {"type": "deploy", "title": "v1", "external_id": "dep-1"})
    assert other["accepted"] == 1
    assert Signal.objects.count() == 5


def test_a_repeated_decision_signal_creates_one_decision(write_api):
    signal = {"type": "decision", "title": "Adopt Postgres", "external_id": "adr-7"}
    ingest(write_api, "Atlas", signal)
    repeat = ingest(write_api, "Atlas", signal)
    assert repeat["duplicates"] == 1 and repeat["signals"][0]["status"] == "duplicate"
    assert Decision.objects.count() == 1


def test_ingest_touches_the_product_so_it_lists_first(write_api):
    ingest(write_api, "Older", {"type": "note", "body": "x"})
    ingest(write_api, "Newer", {"type": "note", "body": "x"})
    ingest(write_api, "Older", {"type": "note", "body": "y"})
    names = [p["name"] for p in write_api.get("/api/v1/memory/products").json()["results"]]
    assert names == ["Older", "Newer"]


def test_ingest_needs_the_pro_plan_and_a_write_token(client_for, make_user):
    free = client_for(make_user(tier="free"))
    response = free.post("/api/v1/ingest/Atlas", json={"type": "note", "body": "x"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "TIER_REQUIRED"
    reader = client_for(make_user(tier="pro"), "read")
    response = reader.post("/api/v1/ingest/Atlas", json={"type": "note", "body": "x"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"
    assert not Signal.objects.exists()


def test_other_users_products_and_signals_stay_invisible(client_for, make_user):
    alice, bob = client_for(make_user(tier="pro")), client_for(make_user(tier="pro"))
    mine = ingest(alice, "Atlas", {"type": "blocker", "title": "secret outage", "external_id": "e-1"})
    # Bob cannot address Alice's product by id…
    response = bob.post(f"/api/v1/ingest/{mine['product']['id']}", json={"type": "note", "body": "x"})
    assert response.status_code == 404
    # …and the same name is his own product; the same external id is his own event.
    his = ingest(bob, "Atlas", {"type": "blocker", "title": "other", "external_id": "e-1"})
    assert his["accepted"] == 1 and his["product"]["id"] != mine["product"]["id"]
    hits = bob.get("/api/v1/memory/search", params={"q": "secret outage", "types": "signal"}).json()
    assert hits["count"] == 0
    hits = alice.get("/api/v1/memory/search", params={"q": "secret outage", "types": "signal"}).json()
    assert [h["id"] for h in hits["results"]] == [mine["signals"][0]["id"]]


def test_signals_are_found_by_memory_search(write_api):
    ingest(write_api, "Atlas", {"type": "error", "title": "TypeError in checkout", "body": "cart total undefined"})
    ingest(write_api, "Hub", {"type": "note", "title": "checkout redesign notes"})
    body = write_api.get("/api/v1/memory/search", params={"q": "checkout", "types": "signal"}).json()
    assert body["count"] == 2
    assert {hit["product"] for hit in body["results"]} == {"Atlas", "Hub"}
    assert all(hit["type"] == "signal" and "**checkout**" in hit["snippet"].lower() for hit in body["results"])
    narrowed = write_api.get(
        "/api/v1/memory/search", params={"q": "checkout", "types": "signal", "product": "atlas"}
    ).json()
    assert [hit["title"] for hit in narrowed["results"]] == ["error: TypeError in checkout"]
    typo = write_api.get("/api/v1/memory/search", params={"q": "checkotu", "types": "signal"}).json()
    assert typo["count"] >= 1


def test_a_signal_keeps_its_typo_tolerance_in_an_alternative(write_api):
    ingest(write_api, "Atlas", {"type": "note", "title": "Move deployments to Nomad"})
    ingest(write_api, "Atlas", {"type": "note", "title": "Kafka for event streaming"})
    for q in ("nomadd", "kafka or nomadd"):
        body = write_api.get("/api/v1/memory/search", params={"q": q, "types": "signal"}).json()
        titles = [hit["title"] for hit in body["results"]]
        assert "note: Move deployments to Nomad" in titles, (q, titles)


def test_concurrent_requests_with_the_same_external_ids_store_each_once(write_api):
    """Eight requests at once, each with the same five external ids (in a different order): the
    unique index makes the later inserts wait for the first commit and count as duplicates."""
    barrier = threading.Barrier(8)

    def send(n: int) -> dict:
        ids = [f"evt-{(n + k) % 5}" for k in range(5)]
        barrier.wait()
        return ingest(write_api, "Atlas", {"signals": [{"type": "note", "body": i, "external_id": i} for i in ids]})

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(8)))
    assert sum(r["accepted"] for r in results) == 5
    assert sum(r["duplicates"] for r in results) == 35
    assert Signal.objects.count() == 5
    stored = {s.external_id: str(s.pk) for s in Signal.objects.all()}
    for result in results:
        for entry in result["signals"]:
            assert entry["id"] in stored.values()
