"""MIF import restores decisions in chunks: its statements grow with the chunks, not the decisions,
and the rules of one-at-a-time restore still hold (ids, fields, links, duplicates, per-item errors)."""

import json
import logging
import threading
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.decisions.models import Decision
from apps.memory.mif.common import VENDOR, derived_id
from apps.memory.mif.importers import mif_import
from apps.memory.tests.mif_support import EXPORT, IMPORT, mif_document, mif_memory
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal
from tests.support.concurrency import on_thread, wait_for_lock_waiters

pytestmark = pytest.mark.django_db

# Statements one chunk may cost, whatever it holds (lookups, locks, inserts, links).
PER_CHUNK = 16


def _decision(i: int, *, supersedes: str | None = None, vector: bool = False, **changes) -> dict:
    data = {
        "id": str(uuid.uuid4()),
        "decision": f"Decision {i}: choose engine {i}",
        "product_name": f"Product {i % 3}",
        "reasoning": f"Because of reason {i}.",
        "tags": ["batch", f"tag{i % 5}"],
        "affects_products": [f"Product {(i + 1) % 3}"],
        "alternatives": [f"Option {i}"],
        "supersedes": supersedes,
        "decided_at": f"2026-01-{1 + i % 28:02d}T10:00:00Z",
        "created_at": f"2026-02-{1 + i % 28:02d}T11:{i % 60:02d}:{i % 7:02d}Z",
        "source": "api",
        **changes,
    }
    memory = mif_memory(
        id=data["id"],
        content=data["decision"],
        memory_type="decision",
        vendor_extensions={VENDOR: {"kind": "decision", "data": data}},
    )
    if vector:
        memory["embeddings"] = {"model": "m-1", "dimensions": 2, "vector": [0.6, 0.8], "normalized": True}
    return memory


def _data(memory: dict) -> dict:
    return memory["vendor_extensions"][VENDOR]["data"]


def _decisions(n: int) -> list[dict]:
    """``n`` decisions: every third supersedes the one before it, every fourth carries a vector."""
    memories = []
    for i in range(n):
        supersedes = _data(memories[-1])["id"] if i % 3 == 2 else None
        memories.append(_decision(i, supersedes=supersedes, vector=i % 4 == 0))
    return memories


def _import(client, memories: list[dict]) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.post(IMPORT, data=json.dumps(mif_document(memories)), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json(), len(queries)


def _export(client) -> list[dict]:
    response = client.get(EXPORT, {"types": "decision", "include_embeddings": "true"})
    assert response.status_code == 200
    return json.loads(b"".join(response.streaming_content))["memories"]


def _rows(user) -> dict:
    return {str(d.origin_id): d for d in Decision.objects.filter(space=space_ensure_personal(user=user))}


def test_restoring_decisions_costs_statements_per_chunk_not_per_decision(make_user, inproc_for):
    small, small_count = _import(inproc_for(make_user(tier="pro")), _decisions(50))
    big, big_count = _import(inproc_for(make_user(tier="pro")), _decisions(200))
    assert (small["decisions_imported"], big["decisions_imported"]) == (50, 200)
    assert small["errors"] == big["errors"] == [] and small["warnings"] == big["warnings"] == []
    assert big_count <= small_count + PER_CHUNK, (small_count, big_count)
    assert small_count < 4 * PER_CHUNK, small_count


def test_statements_grow_with_chunks(make_user, inproc_for, monkeypatch):
    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", 50)
    _, one_chunk = _import(inproc_for(make_user(tier="pro")), _decisions(50))
    body, four_chunks = _import(inproc_for(make_user(tier="pro")), _decisions(200))
    assert body["decisions_imported"] == 200
    assert four_chunks <= one_chunk + 3 * PER_CHUNK, (one_chunk, four_chunks)


def test_reimport_skips_every_decision_in_a_few_statements(user, inproc_for):
    client = inproc_for(user)
    memories = _decisions(120)
    _import(client, memories)
    body, count = _import(client, memories + memories[:5])  # and five twice in one document
    assert (body["decisions_imported"], body["duplicates_skipped"], body["errors"]) == (0, 125, [])
    assert count < 4 * PER_CHUNK, count


def test_every_field_survives_export_and_import_across_chunks(make_user, inproc_for, monkeypatch):
    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", 4)
    source_user = make_user(tier="pro")
    memories = _decisions(23)
    memories.reverse()  # successors first: each chain still links, across chunk edges too
    body, _ = _import(inproc_for(source_user), memories)
    assert (body["decisions_imported"], body["errors"], body["warnings"]) == (23, [], [])
    rows = _rows(source_user)
    for memory in memories:
        data, row = _data(memory), rows[_data(memory)["id"]]
        assert row.id == derived_id("decision", str(row.space_id), data["id"])  # the importing scope's id
        assert (row.decision, row.product.name, row.reasoning) == (
            data["decision"],
            data["product_name"],
            data["reasoning"],
        )
        assert (row.tags, row.affects_products, row.alternatives, row.source) == (
            data["tags"],
            data["affects_products"],
            data["alternatives"],
            "api",
        )
        assert row.created_at.isoformat().replace("+00:00", "Z") == data["created_at"]
        assert row.decided_at.isoformat().replace("+00:00", "Z") == data["decided_at"]
        target = data["supersedes"]
        assert row.supersedes_id == (rows[target].id if target else None)
        assert (row.embedding is not None) == ("embeddings" in memory)
    exported = _export(inproc_for(source_user, "read"))

    target_user = make_user(tier="pro")
    client = inproc_for(target_user)
    assert _import(client, exported)[0]["decisions_imported"] == 23
    assert _export(client) == exported


def test_successors_from_earlier_imports_are_linked_in_a_few_statements(user, inproc_for):
    client = inproc_for(user)
    olders = [_decision(i) for i in range(60)]
    newers = [_decision(100 + i, supersedes=_data(older)["id"]) for i, older in enumerate(olders)]
    first, _ = _import(client, newers)
    assert first["decisions_imported"] == 60 and len(first["warnings"]) == 60
    second, count = _import(client, olders)
    assert (second["decisions_imported"], second["errors"], second["warnings"]) == (60, [], [])
    assert count < 4 * PER_CHUNK, count
    rows = _rows(user)
    for older, newer in zip(olders, newers, strict=True):
        successor, predecessor = rows[_data(newer)["id"]], rows[_data(older)["id"]]
        assert (successor.supersedes_id, successor.supersedes_pending) == (predecessor.id, None)
        assert predecessor.superseded_by_id == successor.id


def _merged_chain(n: int, *, into_top: bool) -> list[dict]:
    """d0 … dn-1 of one product, dk superseding dk+1, each copy dk (k ≥ 1) merged into d0 (the shape
    consolidation writes) or into dk-1."""
    memories = [_decision(k, product_name="Atlas") for k in range(n)]
    ids = [_data(memory)["id"] for memory in memories]
    for k, memory in enumerate(memories):
        _data(memory)["supersedes"] = ids[k + 1] if k + 1 < n else None
        _data(memory)["superseded_by"] = ids[k - 1] if k else None
        _data(memory)["merged_into"] = (ids[0] if into_top else ids[k - 1]) if k else None
    return memories


@pytest.mark.parametrize("into_top", [True, False])
def test_a_long_chain_of_merged_copies_imports_without_a_slow_statement(user, inproc_for, into_top):
    """Checking each copy's survivor reads each decision of the chain once: a walk from every copy
    to the top of the chain took about 50 s in one statement for 1,000 decisions."""
    memories = _merged_chain(1000, into_top=into_top)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '5s'")  # the test's transaction
    body, _ = _import(inproc_for(user), memories)
    assert (body["decisions_imported"], body["errors"], body["warnings"]) == (1000, [], [])
    rows = _rows(user)
    for k, memory in enumerate(memories[1:], start=1):
        survivor = _data(memories[0 if into_top else k - 1])["id"]
        assert rows[_data(memory)["id"]].merged_into_id == rows[survivor].id


def test_the_copies_of_a_survivor_already_here_are_read_once_not_by_every_chunk(user, inproc_for, monkeypatch):
    """A file cut after its oldest decision, the survivor, then imported in two parts: every chunk of
    the second names that survivor, and its copies are checked against it once, when all are written."""
    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", 50)
    memories = _merged_chain(200, into_top=True)
    client = inproc_for(user)
    _import(client, memories[:1])
    with CaptureQueriesContext(connection) as queries:
        body, _ = _import(client, memories[1:])
    assert (body["decisions_imported"], body["errors"], body["warnings"]) == (199, [], [])
    walks = [q["sql"] for q in queries if "RECURSIVE" in q["sql"] and "merged_into_pending" in q["sql"]]
    assert len(walks) == 1, len(walks)
    rows = _rows(user)
    assert {rows[_data(memory)["id"]].merged_into_id for memory in memories[1:]} == {rows[_data(memories[0])["id"]].id}


def test_bad_items_among_good_ones_are_reported_one_by_one(user, inproc_for, monkeypatch):
    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", 8)
    memories = _decisions(30)
    # A second successor of one decision (a database conflict inside a chunk), a text too long,
    # a cycle, and a successor of a decision that is not here.
    rival = _decision(31, supersedes=_data(memories[1])["id"])
    too_long = _decision(32, decision="x" * 2001)
    one, two = _decision(33), _decision(34)
    _data(one)["supersedes"], _data(two)["supersedes"] = _data(two)["id"], _data(one)["id"]
    orphan = _decision(35, supersedes=str(uuid.uuid4()))
    memories[10:10] = [rival, too_long, one, two, orphan]
    body, _ = _import(inproc_for(user), memories)
    assert body["decisions_imported"] == 31
    assert [(e["index"], e["id"]) for e in body["errors"]] == [
        (10, rival["id"]),
        (11, too_long["id"]),
        (12, one["id"]),
        (13, two["id"]),
    ]
    assert "already superseded" in body["errors"][0]["message"]
    assert "decision" in body["errors"][1]["message"]
    assert all("cycle" in e["message"] for e in body["errors"][2:])
    assert [(w["index"], w["id"]) for w in body["warnings"]] == [(14, orphan["id"])]
    rows = _rows(user)
    assert rows[_data(memories[1])["id"]].supersedes_id is None
    assert rows[_data(memories[2])["id"]].supersedes_id == rows[_data(memories[1])["id"]].id
    assert rows[orphan["id"]].supersedes_pending == uuid.UUID(_data(orphan)["supersedes"])


def test_the_products_are_locked_before_the_decisions_are_written(user, inproc_for):
    """The lock order of every decision writer and of consolidation: product rows, then decisions."""
    client = inproc_for(user)
    _import(client, _decisions(3))  # the products exist now
    with CaptureQueriesContext(connection) as queries:
        client.post(IMPORT, data=json.dumps(mif_document(_decisions(6))), content_type="application/json")
    statements = [q["sql"] for q in queries]
    insert = next(i for i, sql in enumerate(statements) if sql.startswith('INSERT INTO "decisions_decision"'))
    assert any("FOR NO KEY UPDATE" in sql and "products_productstate" in sql for sql in statements[:insert])


@pytest.mark.django_db(transaction=True)
def test_an_import_waits_for_a_running_consolidation_instead_of_deadlocking_with_it(user, caplog):
    """Consolidation holds the space's product rows, then a decision, then the space's words; an
    import adopting that decision as a successor must wait for it, not hold the words first."""
    space = space_ensure_personal(user=user)
    older = _decision(1, product_name="Borealis")
    newer = _decision(2, supersedes=_data(older)["id"], product_name="Atlas")
    assert len(mif_import(space=space, text=json.dumps(mif_document([newer]))).warnings) == 1
    waiting = Decision.objects.get(space=space, origin_id=_data(newer)["id"])
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def consolidation():
        with transaction.atomic():
            list(ProductState.objects.select_for_update().filter(space=space).order_by("id"))
            list(Decision.objects.select_for_update().filter(pk=waiting.pk))
            locked.set()
            release.wait(10)
            with connection.cursor() as cursor:  # as merging a decision's text takes it
                cursor.execute("SELECT sx_decision_words_lock(%s::uuid, true)", [space.pk])
            return True

    caplog.set_level(logging.WARNING, logger="synchronex.db.deadlocks")
    merger = on_thread(consolidation, outcome, "consolidation")
    assert locked.wait(10)
    document = json.dumps(mif_document([older]))
    importer = on_thread(lambda: mif_import(space=space, text=document), outcome, "import")
    wait_for_lock_waiters()
    release.set()
    merger.join(15), importer.join(15)

    assert outcome["consolidation"] is True
    assert (outcome["import"].decisions_imported, outcome["import"].warnings) == (1, [])
    assert "deadlock" not in caplog.text
    waiting.refresh_from_db()
    assert waiting.supersedes_id == Decision.objects.get(space=space, origin_id=_data(older)["id"]).pk
