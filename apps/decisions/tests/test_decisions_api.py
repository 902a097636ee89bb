"""Recording, reading and deleting decisions over real HTTP (SPEC §6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from .helpers import DECISIONS, days_ago, record, search, texts

pytestmark = pytest.mark.django_db(transaction=True)


def test_recording_a_decision_returns_its_full_shape(write_api):
    response = write_api.post(
        DECISIONS,
        json={
            "decision": "  Use PostgreSQL for everything  ",
            "product_name": "Atlas",
            "reasoning": "One engine for search, vectors and queues.",
            "tags": ["Infra", "database", "infra"],
            "affects_products": ["Billing", "billing", "Docs"],
            "alternatives": ["SQLite", "MySQL"],
            "decided_at": "2026-01-15T09:30:00+02:00",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    uuid.UUID(body["id"])
    assert body["decision"] == "Use PostgreSQL for everything"
    assert body["product_name"] == "Atlas"
    assert body["reasoning"] == "One engine for search, vectors and queues."
    assert body["tags"] == ["infra", "database"]
    assert body["affects_products"] == ["Billing", "Docs"]
    assert body["alternatives"] == ["SQLite", "MySQL"]
    assert body["supersedes"] is None and body["superseded_by"] is None
    assert body["decided_at"] == "2026-01-15T07:30:00Z"
    assert body["created_at"].endswith("Z")
    assert body["source"] == "api" and body["scope"] == "personal"
    assert response.headers["Location"] == f"/api/v1/memory/decisions/{body['id']}"
    assert write_api.get(response.headers["Location"]).json() == body


def test_a_replay_of_a_recorded_decision_repeats_its_location(write_api):
    headers = {"Idempotency-Key": "decide-1"}
    first = write_api.post(DECISIONS, json={"decision": "Ship", "product_name": "Atlas"}, headers=headers)
    replay = write_api.post(DECISIONS, json={"decision": "Ship", "product_name": "Atlas"}, headers=headers)
    assert first.status_code == replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"] == f"{DECISIONS}/{first.json()['id']}"


def test_defaults_and_date_only_decided_at(write_api):
    body = record(write_api, "Ship weekly", decided_at="2026-02-01")
    assert body["decided_at"] == "2026-02-01T00:00:00Z"
    assert body["reasoning"] == "" and body["tags"] == [] and body["alternatives"] == []
    fresh = record(write_api, "Ship daily")
    assert fresh["decided_at"].endswith("Z")


def test_decided_at_bounds_compare_the_utc_instant(write_api):
    assert record(write_api, "floor", decided_at="1900-01-01T00:00:00Z")["decided_at"] == "1900-01-01T00:00:00Z"
    # Written in 1899, in 1900 in UTC.
    body = record(write_api, "west of the floor", decided_at="1899-12-31T12:00:00-12:00")
    assert body["decided_at"] == "1900-01-01T00:00:00Z"
    # One day from now, however the offset makes it read.
    east = timezone(timedelta(hours=14))
    west = timezone(timedelta(hours=-12))
    soon = (datetime.now(UTC) + timedelta(hours=20)).astimezone(east).isoformat()  # reads now + 34 h
    record(write_api, "soon", decided_at=soon)
    late = (datetime.now(UTC) + timedelta(hours=26)).astimezone(west).isoformat()  # reads now + 14 h
    response = write_api.post(DECISIONS, json={"decision": "late", "product_name": "Atlas", "decided_at": late})
    assert response.status_code == 400 and "decided_at" in response.json()["error"]["details"]["fields"]


def test_recording_creates_the_product_and_reuses_it_case_insensitively(write_api):
    record(write_api, "First", product="New Thing")
    second = record(write_api, "Second", product="  new thing ")
    assert second["product_name"] == "New Thing"
    products = write_api.get("/api/v1/memory/products").json()
    assert [p["name"] for p in products["results"]] == ["New Thing"]
    state = write_api.get(f"/api/v1/memory/product/{quote('NEW THING')}/state").json()
    assert [d["decision"] for d in state["recent_decisions"]] == ["Second", "First"]


def test_recording_a_decision_moves_its_product_to_the_top(write_api):
    record(write_api, "a", product="Old")
    write_api.post("/api/v1/memory/product/Newer/state", json={})
    assert write_api.get("/api/v1/memory/products").json()["results"][0]["name"] == "Newer"
    record(write_api, "b", product="Old")
    assert write_api.get("/api/v1/memory/products").json()["results"][0]["name"] == "Old"


def test_recent_decisions_are_the_five_newest_current_ones(write_api):
    made = [record(write_api, f"decision {i}", decided_at=days_ago(10 - i)) for i in range(7)]
    record(write_api, "decision 7 replaces 6", supersedes=made[6]["id"])
    record(write_api, "elsewhere", product="Other")
    state = write_api.get("/api/v1/memory/product/Atlas/state").json()
    assert [d["decision"] for d in state["recent_decisions"]] == [
        "decision 7 replaces 6",
        "decision 5",
        "decision 4",
        "decision 3",
        "decision 2",
    ]


def test_recent_decisions_include_other_products_decisions_that_affect_it(write_api):
    record(write_api, "Own, older", decided_at=days_ago(3))
    record(write_api, "Billing uses Stripe", product="Billing", affects_products=["atlas"], decided_at=days_ago(2))
    record(write_api, "Own, newer", decided_at=days_ago(1))
    record(write_api, "Billing only", product="Billing")
    state = write_api.get("/api/v1/memory/product/Atlas/state").json()
    assert [d["decision"] for d in state["recent_decisions"]] == ["Own, newer", "Billing uses Stripe", "Own, older"]
    billing = write_api.get("/api/v1/memory/product/Billing/state").json()
    assert [d["decision"] for d in billing["recent_decisions"]] == ["Billing only", "Billing uses Stripe"]


def test_superseding_marks_the_older_decision(write_api, read_api):
    old = record(write_api, "Use Heroku")
    new = record(write_api, "Use Fly.io", supersedes=old["id"])
    assert new["supersedes"] == old["id"] and new["superseded_by"] is None
    again = read_api.get(f"{DECISIONS}/{old['id']}").json()
    assert again["superseded_by"] == new["id"]


def test_a_decision_replacing_another_products_decision_affects_that_product(write_api):
    """Superseding across products: the replaced decision's product sees the replacement wherever
    it sees decisions that affect it (search, product state, kernel export), or it would be left
    with no decision on the matter at all."""
    old = record(write_api, "Use Stripe for EU card payments", "Checkout", tags=["payments"])
    new = record(
        write_api,
        "Move all card payments to Adyen (replaces Stripe)",
        "Platform",
        supersedes=old["id"],
        affects_products=["Docs"],
    )
    assert new["affects_products"] == ["Docs", "Checkout"]
    found = search(write_api, product="checkout")
    assert [(hit["id"], hit["match"]) for hit in found["results"]] == [(new["id"], "affects")]
    assert texts(search(write_api, product="Checkout", q="card payments")) == [new["decision"]]
    state = write_api.get("/api/v1/memory/product/Checkout/state").json()
    assert [d["id"] for d in state["recent_decisions"]] == [new["id"]]
    export = write_api.get("/api/v1/kernel/export", params={"product": "Checkout", "query": "card payments"})
    assert export.status_code == 200 and f"Platform: {new['decision']}" in export.text

    # The decision's own product is not added (here an ingested successor), nor one listed already
    # (in any spelling); a full list (20) is left as it is.
    ingested = write_api.post(
        "/api/v1/ingest/Platform",
        json={"type": "decision", "title": "Keep Adyen for EU cards", "data": {"supersedes": new["id"]}},
    )
    assert ingested.status_code == 202, ingested.text
    (latest,) = search(write_api, product="Platform")["results"]
    assert latest["decision"] == "Keep Adyen for EU cards" and latest["affects_products"] == []
    listed = record(write_api, "Card payments stay on Stripe", "Checkout")
    again = record(write_api, "Adyen", "Platform", supersedes=listed["id"], affects_products=["CHECKOUT"])
    assert again["affects_products"] == ["CHECKOUT"]
    full = [f"P{n}" for n in range(20)]
    other = record(write_api, "Refunds by hand", "Checkout")
    replaced = record(write_api, "Refunds", "Platform", supersedes=other["id"], affects_products=full)
    assert replaced["affects_products"] == full


def test_an_ingested_decision_replacing_another_products_decision_affects_that_product(write_api):
    old = record(write_api, "Use Stripe for EU card payments", "Checkout")
    response = write_api.post(
        "/api/v1/ingest/Platform",
        json={"type": "decision", "title": "Move card payments to Adyen", "data": {"supersedes": old["id"]}},
    )
    assert response.status_code == 202, response.text
    (hit,) = search(write_api, product="Checkout")["results"]
    assert (hit["decision"], hit["match"]) == ("Move card payments to Adyen", "affects")
    assert hit["affects_products"] == ["Checkout"]


def test_a_decision_can_be_superseded_only_once(write_api):
    old = record(write_api, "Use Heroku")
    new = record(write_api, "Use Fly.io", supersedes=old["id"])
    response = write_api.post(
        DECISIONS, json={"decision": "Use Render", "product_name": "Atlas", "supersedes": old["id"]}
    )
    assert response.status_code == 409
    assert response.json()["error"]["details"]["superseded_by"] == new["id"]
    chained = record(write_api, "Use Render", supersedes=new["id"])
    assert chained["supersedes"] == new["id"]


def test_superseding_an_unknown_or_foreign_decision_is_not_found(write_api, make_user, client_for):
    foreign = record(client_for(make_user()), "Theirs")
    for target in (str(uuid.uuid4()), foreign["id"]):
        response = write_api.post(DECISIONS, json={"decision": "x", "product_name": "Atlas", "supersedes": target})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert write_api.get("/api/v1/memory/products").json()["count"] == 0  # rolled back entirely


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product_name": "Atlas"}, "decision"),
        ({"decision": "x"}, "product_name"),
        ({"decision": "   ", "product_name": "Atlas"}, "decision"),
        ({"decision": "x" * 2001, "product_name": "Atlas"}, "decision"),
        ({"decision": 42, "product_name": "Atlas"}, "decision"),
        ({"decision": "x", "product_name": "p" * 101}, "product_name"),
        ({"decision": "x", "product_name": " "}, "product_name"),
        ({"decision": "x", "product_name": ["Atlas"]}, "product_name"),
        ({"decision": "x", "product_name": "Atlas", "reasoning": "r" * 10001}, "reasoning"),
        ({"decision": "x", "product_name": "Atlas", "reasoning": None}, "reasoning"),
        ({"decision": "x", "product_name": "Atlas", "tags": ["t"] * 21}, "tags"),
        ({"decision": "x", "product_name": "Atlas", "tags": ["t" * 51]}, "tags[0]"),
        ({"decision": "x", "product_name": "Atlas", "tags": ["ok", "a,b"]}, "tags[1]"),
        ({"decision": "x", "product_name": "Atlas", "tags": [""]}, "tags[0]"),
        ({"decision": "x", "product_name": "Atlas", "tags": "infra"}, "tags"),
        ({"decision": "x", "product_name": "Atlas", "tags": [1]}, "tags[0]"),
        ({"decision": "x", "product_name": "Atlas", "affects_products": ["p"] * 21}, "affects_products"),
        ({"decision": "x", "product_name": "Atlas", "affects_products": ["p" * 101]}, "affects_products[0]"),
        ({"decision": "x", "product_name": "Atlas", "affects_products": [" "]}, "affects_products[0]"),
        ({"decision": "x", "product_name": "Atlas", "alternatives": ["a"] * 21}, "alternatives"),
        ({"decision": "x", "product_name": "Atlas", "alternatives": ["a" * 2001]}, "alternatives[0]"),
        ({"decision": "x", "product_name": "Atlas", "alternatives": [None]}, "alternatives[0]"),
        ({"decision": "x", "product_name": "Atlas", "supersedes": "not-a-uuid"}, "supersedes"),
        ({"decision": "x", "product_name": "Atlas", "supersedes": 7}, "supersedes"),
        ({"decision": "x", "product_name": "Atlas", "decided_at": "yesterday"}, "decided_at"),
        ({"decision": "x", "product_name": "Atlas", "decided_at": 1700000000}, "decided_at"),
        ({"decision": "x", "product_name": "Atlas", "decided_at": "2999-01-01"}, "decided_at"),
        ({"decision": "x", "product_name": "Atlas", "decided_at": "1066-10-14"}, "decided_at"),
        # 1899-12-31T10:00:00Z and 1899-12-31T23:59:59Z: the floor is the UTC instant, not the year written.
        ({"decision": "x", "product_name": "Atlas", "decided_at": "1900-01-01T00:00:00+14:00"}, "decided_at"),
        ({"decision": "x", "product_name": "Atlas", "decided_at": "1899-12-31T11:59:59-12:00"}, "decided_at"),
        ({"decision": "x", "product_name": "Atlas", "source": "mif"}, "source"),
        ({"decision": "x", "product_name": "Atlas", "why": "?"}, "why"),
    ],
)
def test_bad_bodies_are_validation_errors_naming_the_field(write_api, body, field):
    response = write_api.post(DECISIONS, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]["fields"], error
    assert write_api.get("/api/v1/memory/products").json()["count"] == 0


def test_limits_are_inclusive(write_api):
    body = record(
        write_api,
        "d" * 2000,
        product="p" * 100,
        reasoning="r" * 10000,
        tags=[f"t{i:02d}" + "x" * 47 for i in range(20)],
        affects_products=[f"p{i}" for i in range(20)],
        alternatives=["a" * 2000] * 20,
    )
    assert len(body["tags"]) == 20 and len(body["alternatives"]) == 20


def test_recording_needs_decisions_write(make_user, client_for):
    reader = client_for(make_user(), "read")
    response = reader.post(DECISIONS, json={"decision": "x", "product_name": "Atlas"})
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required_scopes"] == ["decisions:write"]


def test_delete_removes_the_decision(write_api):
    made = record(write_api, "Temporary")
    assert write_api.delete(f"{DECISIONS}/{made['id']}").status_code == 204
    assert write_api.get(f"{DECISIONS}/{made['id']}").status_code == 404
    assert write_api.delete(f"{DECISIONS}/{made['id']}").status_code == 404


def test_deleting_a_successor_makes_the_older_decision_current_again(write_api):
    old = record(write_api, "Use Heroku")
    new = record(write_api, "Use Fly.io", supersedes=old["id"])
    assert write_api.delete(f"{DECISIONS}/{new['id']}").status_code == 204
    assert write_api.get(f"{DECISIONS}/{old['id']}").json()["superseded_by"] is None


def test_deleting_a_superseded_decision_keeps_its_successor(write_api):
    old = record(write_api, "Use Heroku")
    new = record(write_api, "Use Fly.io", supersedes=old["id"])
    assert write_api.delete(f"{DECISIONS}/{old['id']}").status_code == 204
    kept = write_api.get(f"{DECISIONS}/{new['id']}")
    assert kept.status_code == 200 and kept.json()["supersedes"] is None


def test_deleting_an_ingested_decision_deletes_the_signal_that_carried_it(write_api):
    signals = [
        {"type": "decision", "title": "Secret pricing", "body": "Enterprise pays double"},
        {"type": "note", "title": "Secret launch date moved"},
    ]
    assert write_api.post("/api/v1/ingest/Atlas", json={"signals": signals}).status_code == 202
    (made,) = write_api.get(f"{DECISIONS}/search", params={"q": "secret pricing"}).json()["results"]

    assert write_api.delete(f"{DECISIONS}/{made['id']}").status_code == 204

    found = write_api.get("/api/v1/memory/search", params={"q": "secret", "types": "signal,decision"}).json()
    assert [hit["title"] for hit in found["results"]] == ["note: Secret launch date moved"]
    assert write_api.get("/api/v1/memory/search", params={"q": "enterprise double"}).json()["count"] == 0


def test_a_decision_deleted_outside_the_api_takes_its_signal_too(write_api):
    """The admin deletes through the ORM: the signal goes with the decision there as well."""
    from apps.decisions.models import Decision
    from apps.ingest.models import Signal

    signal = {"type": "decision", "title": "Secret pricing", "body": "Enterprise pays double"}
    assert write_api.post("/api/v1/ingest/Atlas", json=signal).status_code == 202
    assert Signal.objects.filter(decision__isnull=False).count() == 1
    Decision.objects.all().delete()
    assert not Signal.objects.exists()


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", str(uuid.UUID(int=1))])
def test_unknown_or_malformed_ids_are_not_found(write_api, bad_id):
    for response in (write_api.delete(f"{DECISIONS}/{bad_id}"), write_api.get(f"{DECISIONS}/{bad_id}")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"


def test_other_users_decisions_are_not_found(make_user, client_for):
    alice, bob = client_for(make_user()), client_for(make_user())
    theirs = record(alice, "Alice's secret")
    assert bob.get(f"{DECISIONS}/{theirs['id']}").status_code == 404
    assert bob.delete(f"{DECISIONS}/{theirs['id']}").status_code == 404
    assert alice.get(f"{DECISIONS}/{theirs['id']}").status_code == 200


def test_delete_needs_decisions_write(write_api, read_api):
    made = record(write_api, "Keep me")
    response = read_api.delete(f"{DECISIONS}/{made['id']}")
    assert response.status_code == 403
    assert write_api.get(f"{DECISIONS}/{made['id']}").status_code == 200


def test_idempotency_key_records_once(write_api):
    headers = {"Idempotency-Key": "decision-1"}
    body = {"decision": "Only once", "product_name": "Atlas"}
    first = write_api.post(DECISIONS, json=body, headers=headers)
    replay = write_api.post(DECISIONS, json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json()["id"] == first.json()["id"]
    state = write_api.get("/api/v1/memory/product/Atlas/state").json()
    assert len(state["recent_decisions"]) == 1


def test_no_embedding_task_is_queued_without_a_provider(
    write_api, monkeypatch, settings, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr("apps.memory.tasks.embed_pending.delay", lambda **kw: calls.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        record(write_api, "No provider here")
    assert calls == []
    settings.EMBEDDINGS_PROVIDER = "local"  # the same write with a provider does queue one
    with django_capture_on_commit_callbacks(execute=True):
        record(write_api, "A provider here")
    assert len(calls) == 1


def test_fast_representation_matches_the_documented_serializer(write_api):
    from apps.decisions.api.serializers import DecisionSerializer, decision_representation
    from apps.decisions.selectors import decisions_with_refs

    old = record(write_api, "Old way", tags=["a"], affects_products=["Docs"], alternatives=["x"])
    new = record(write_api, "New way", supersedes=old["id"], decided_at="2026-01-02T03:04:05.678901Z")
    for made in (old, new):
        row = decisions_with_refs().get(pk=made["id"])
        assert decision_representation(row) == dict(DecisionSerializer(row).data)


def test_no_operation_is_described_by_the_internal_docstring_of_a_base_view(api):
    """An operation without a description of its own must not inherit a docstring written for the
    code's readers (reST ``literals``) from the classes it extends."""
    schema = api.get("/api/v1/openapi.json").json()
    descriptions = {
        f"{method.upper()} {path}": operation.get("description", "")
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    internal = {name: text for name, text in descriptions.items() if "``" in text}
    assert internal == {}
    assert "NOT_FOUND" in descriptions["GET /api/v1/memory/decisions/{decision_id}"]
    assert "unauthenticated" not in descriptions["GET /healthz"]
