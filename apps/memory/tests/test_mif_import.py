"""POST /api/v1/memory/import-mif: formats, per-item errors, dedupe, concurrency, limits, isolation."""

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apps.accounts.models import ApiKey
from apps.decisions.models import Decision
from apps.identity.models import Kernel
from apps.identity.services import kernel_update
from apps.memory.mif.common import VENDOR
from apps.memory.models import Memory
from apps.memory.tests.mif_support import (
    KERNEL,
    export_json,
    import_document,
    mif_document,
    mif_memory,
    seed_space,
)
from apps.products.models import ProductState
from apps.scopes.models import Membership
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)
MIF_CLI = Path(sys.executable).parent / "mif"

MEM0 = [
    {
        "id": "892db2ae-06d9-49e5-8b3e-585ef9b85b8e",
        "memory": "Is planning a trip to Japan next spring",
        "hash": "5e4d3c2b1a",
        "metadata": {"category": "travel", "priority": 2},
        "categories": ["travel"],
        "created_at": "2024-07-26T10:29:36.630547-07:00",
        "updated_at": None,
        "user_id": "alex",
    },
    {
        "id": "d1f0c3a2-5b7e-4c1d-9a8b-7e6f5d4c3b2a",
        "memory": "Decided to use PostgreSQL for the booking service",
        "metadata": {"category": "decision"},
        "created_at": "2024-07-27T08:00:00Z",
        "updated_at": "2024-07-28T08:00:00Z",
        "user_id": "alex",
        "agent_id": "planner",
    },
    {"id": "mem-42", "memory": "Allergic to peanuts", "created_at": "2024-07-29T08:00:00Z", "user_id": "alex"},
]

MCP_JSONL = "\n".join(
    json.dumps(record)
    for record in [
        {"type": "entity", "name": "John_Smith", "entityType": "person", "observations": ["Speaks fluent Spanish"]},
        {"type": "entity", "name": "Anthropic", "entityType": "organization", "observations": []},
        {"type": "relation", "from": "John_Smith", "to": "Anthropic", "relationType": "works_at"},
        {
            "type": "entity",
            "name": "Maria",
            "entityType": "person",
            "observations": ["Speaks fluent Spanish", "Prefers morning meetings"],
        },
    ]
)


def stored(user) -> dict:
    space = space_ensure_personal(user=user)
    return {
        "memories": Memory.objects.filter(space=space).count(),
        "decisions": Decision.objects.filter(space=space).count(),
        "products": ProductState.objects.filter(space=space).count(),
        "kernel": Kernel.objects.filter(space=space).exists(),
    }


def search(client, q: str) -> list[str]:
    response = client.get("/api/v1/memory/search", params={"q": q, "types": "memory"})
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["results"]]


def assert_validation_error(response, *phrases):
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    for phrase in phrases:
        assert phrase in error["message"], error["message"]
    return error


# -- formats ---------------------------------------------------------------------------------------
def test_mem0_export_converted_by_mif_tools_imports_cleanly(user, client_for, tmp_path):
    source, converted = tmp_path / "mem0.json", tmp_path / "converted.mif.json"
    source.write_text(json.dumps(MEM0))
    result = subprocess.run(
        [str(MIF_CLI), "convert", str(source), "--from", "mem0", "--to", "shodh", "-o", str(converted)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    client = client_for(user)
    body = import_document(client, converted.read_text()).json()
    assert (body["format"], body["memories_imported"], body["errors"]) == ("mif", 3, [])
    assert str(uuid.UUID(MEM0[0]["id"])) in {str(m.memory_id) for m in Memory.objects.all()}
    assert search(client, "Japan") == ["Is planning a trip to Japan next spring"]
    again = import_document(client, converted.read_text()).json()
    assert (again["memories_imported"], again["duplicates_skipped"]) == (0, 3)


def test_native_mem0_array_imports_with_ids_and_everything_kept(user, client_for):
    client = client_for(user)
    body = import_document(client, MEM0).json()
    assert body["format"] == "mem0"
    assert (body["memories_imported"], body["duplicates_skipped"], body["errors"]) == (3, 0, [])
    space = space_ensure_personal(user=user)
    trip = Memory.objects.get(space=space, memory_id=MEM0[0]["id"])
    assert trip.memory_type == "observation" and trip.tags == ["travel"]
    assert trip.metadata == {"category": "travel", "priority": 2}
    assert trip.raw["vendor_extensions"]["mem0"] == {"hash": "5e4d3c2b1a", "user_id": "alex"}
    assert trip.external_id == MEM0[0]["id"]
    decided = Memory.objects.get(space=space, memory_id=MEM0[1]["id"])
    assert (decided.memory_type, decided.agent_id) == ("decision", "planner")
    peanuts = Memory.objects.get(space=space, content="Allergic to peanuts")
    assert peanuts.external_id == "mem-42"  # not a UUID: a stable derived id, the mem0 id kept
    assert search(client, "peanuts") == ["Allergic to peanuts"]
    wrapped = import_document(client, {"results": MEM0}).json()
    assert (wrapped["format"], wrapped["memories_imported"], wrapped["duplicates_skipped"]) == ("mem0", 0, 3)


def test_mem0_items_without_text_are_reported(user, client_for):
    items = [*MEM0[:1], {"id": "x-1", "memory": "  "}, "not an object", {"memory": "ok", "created_at": "yesterday"}]
    body = import_document(client_for(user), items).json()
    assert body["memories_imported"] == 1
    assert [(e["index"], e["id"]) for e in body["errors"]] == [(1, "x-1"), (2, None), (3, None)]
    assert "memory" in body["errors"][0]["message"] and "created_at" in body["errors"][2]["message"]


def test_mcp_memory_jsonl_becomes_searchable_memories(user, client_for):
    client = client_for(user)
    response = import_document(client, MCP_JSONL, content_type="application/x-ndjson")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["format"], body["memories_imported"], body["errors"]) == ("mcp-jsonl", 5, [])
    contents = set(Memory.objects.values_list("content", flat=True))
    assert contents == {
        "John_Smith: Speaks fluent Spanish",
        "Anthropic (organization)",
        "John_Smith works at Anthropic",
        "Maria: Speaks fluent Spanish",
        "Maria: Prefers morning meetings",
    }
    relation = Memory.objects.get(content="John_Smith works at Anthropic")
    assert relation.memory_type == "relation"
    assert [e["name"] for e in relation.entities] == ["John_Smith", "Anthropic"]
    assert relation.raw["vendor_extensions"]["mcp-memory"]["relationType"] == "works_at"
    assert set(search(client, "Spanish")) == {"John_Smith: Speaks fluent Spanish", "Maria: Speaks fluent Spanish"}
    again = import_document(client, MCP_JSONL, content_type="text/plain").json()
    assert (again["memories_imported"], again["duplicates_skipped"]) == (0, 5)


def test_jsonl_lines_that_are_broken_are_reported_by_line(user, client_for):
    text = MCP_JSONL + '\n{"type": "entity", "name": "X"\n\n{"type": "node"}\n'
    body = import_document(client_for(user), text, content_type="application/jsonl").json()
    assert body["memories_imported"] == 5
    assert [(e["index"], e["id"]) for e in body["errors"]] == [(4, None), (6, None)]
    assert body["errors"][0]["message"].startswith("line 5: not valid JSON")
    assert "entity" in body["errors"][1]["message"]


@pytest.mark.parametrize(
    "content_type",
    ["application/x-ndjson", "application/jsonl", "application/x-jsonlines", "Application/JSONL; charset=utf-8"],
)
def test_a_declared_jsonl_media_type_is_read_as_jsonl_even_when_its_first_line_is_broken(
    user, client_for, content_type
):
    text = "{broken\n" + MCP_JSONL + "\n"
    response = import_document(client_for(user), text, content_type=content_type)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["format"], body["memories_imported"]) == ("mcp-jsonl", 5)
    assert [(e["index"], e["message"][:24]) for e in body["errors"]] == [(0, "line 1: not valid JSON (")]


def test_single_line_jsonl_is_detected_even_as_json(user, client_for):
    line = {"type": "entity", "name": "Solo", "entityType": "person", "observations": ["Works alone"]}
    body = import_document(client_for(user), line).json()
    assert (body["format"], body["memories_imported"]) == ("mcp-jsonl", 1)


# -- per-memory errors, dedupe ---------------------------------------------------------------------
def test_three_bad_memories_among_100_are_reported_and_97_imported(user, client_for):
    memories = [mif_memory() for _ in range(100)]
    memories[10].pop("content")
    memories[50]["id"] = "not-a-uuid"
    memories[99]["created_at"] = "the day before yesterday"
    body = import_document(client_for(user), mif_document(memories)).json()
    assert body["memories_imported"] == 97
    assert body["errors_total"] == 3
    assert [(e["index"], e["id"]) for e in body["errors"]] == [
        (10, memories[10]["id"]),
        (50, "not-a-uuid"),
        (99, memories[99]["id"]),
    ]
    messages = [e["message"] for e in body["errors"]]
    assert "content" in messages[0] and "id" in messages[1] and "created_at" in messages[2]
    assert stored(user)["memories"] == 97


def test_importing_the_same_file_twice_adds_nothing(user, make_user, client_for):
    seed_space(user)
    exported = export_json(client_for(user, "read"))
    other = make_user(tier="pro")
    client = client_for(other)
    first = import_document(client, exported).json()
    after_first = stored(other)
    second = import_document(client, exported).json()
    assert (first["memories_imported"], first["decisions_imported"], first["products_imported"]) == (2, 3, 3)
    assert second == {**first, "memories_imported": 0, "decisions_imported": 0, "products_imported": 0,
                      "kernel_imported": False, "duplicates_skipped": 9}  # fmt: skip
    assert stored(other) == after_first
    # Re-importing into the source space changes nothing either.
    back = import_document(client_for(user), exported).json()
    assert back["duplicates_skipped"] == 9 and back["errors"] == []


def _plain(memory: dict) -> dict:
    """A memory as a tool that keeps only MIF's own fields passes it on (no vendor_extensions)."""
    return {key: value for key, value in memory.items() if key != "vendor_extensions"}


@pytest.mark.parametrize("where", ["source", "restored"])
def test_reimporting_an_export_without_vendor_extensions_adds_nothing(user, make_user, client_for, where):
    seed_space(user)
    exported = export_json(client_for(user, "read"))
    owner = user if where == "source" else make_user(tier="pro")
    client = client_for(owner)
    if where == "restored":  # the records carry the document's ids as origin_id here
        assert import_document(client, exported).json()["errors"] == []
    before, counts = export_json(client), stored(owner)
    plain = mif_document([_plain(memory) for memory in exported["memories"]])

    dry = import_document(client, plain, params={"dry_run": "true"}).json()
    report = import_document(client, plain).json()
    assert (report["memories_imported"], report["duplicates_skipped"], report["errors"]) == (0, 9, [])
    assert {**dry, "dry_run": False} == report
    assert stored(owner) == counts
    after = export_json(client)
    assert after["memories"] == before["memories"]
    assert len({memory["id"] for memory in after["memories"]}) == len(after["memories"])


def test_a_record_and_its_plain_copy_in_one_document_import_once(user, make_user, client_for):
    seed_space(user)
    exported = export_json(client_for(user, "read"))
    document = mif_document(exported["memories"] + [_plain(memory) for memory in exported["memories"]])
    client = client_for(make_user(tier="pro"))
    dry = import_document(client, document, params={"dry_run": "true"}).json()
    report = import_document(client, document).json()
    assert (report["decisions_imported"], report["products_imported"], report["kernel_imported"]) == (3, 3, True)
    assert (report["memories_imported"], report["duplicates_skipped"], report["errors"]) == (2, 9, [])
    assert {**dry, "dry_run": False} == report


def test_same_content_under_another_id_is_a_duplicate(user, client_for):
    client = client_for(user)
    first = mif_memory(content="One fact")
    body = import_document(client, mif_document([first, mif_memory(content="One fact"), dict(first)])).json()
    assert (body["memories_imported"], body["duplicates_skipped"]) == (1, 2)


def test_parallel_imports_of_one_file_create_no_duplicates(user, make_user, client_for):
    seed_space(user)
    document = export_json(client_for(user, "read"))
    document["memories"] += [mif_memory() for _ in range(600)]
    other = make_user(tier="pro")
    clients = [client_for(other) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda c: import_document(c, document), clients))
    bodies = [r.json() for r in responses]
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert all(body["errors"] == [] for body in bodies)
    assert sum(b["memories_imported"] for b in bodies) == 602
    assert sum(b["decisions_imported"] for b in bodies) == 3
    assert sum(b["products_imported"] for b in bodies) == 3
    assert sum(b["kernel_imported"] for b in bodies) == 1
    assert sum(b["duplicates_skipped"] for b in bodies) == 3 * 609
    assert stored(other) == {"memories": 602, "decisions": 3, "products": 3, "kernel": True}


def test_dry_run_reports_without_writing(user, make_user, client_for):
    seed_space(user)
    exported = export_json(client_for(user, "read"))
    other = make_user(tier="pro")
    body = import_document(client_for(other), exported, params={"dry_run": "true"}).json()
    assert body["dry_run"] is True
    assert (body["memories_imported"], body["decisions_imported"], body["products_imported"]) == (2, 3, 3)
    assert body["kernel_imported"] is True
    assert stored(other) == {"memories": 0, "decisions": 0, "products": 0, "kernel": False}


def test_superseding_decisions_are_restored_in_any_document_order(user, make_user, client_for):
    data = seed_space(user)
    exported = export_json(client_for(user, "read"))
    exported["memories"].reverse()  # the successor now comes before the decision it supersedes
    other = make_user(tier="pro")
    assert import_document(client_for(other), exported).json()["errors"] == []
    space = space_ensure_personal(user=other)
    newer = Decision.objects.get(space=space, decision="Use PostgreSQL")
    older = Decision.objects.get(space=space, decision="Use MySQL")
    assert newer.supersedes_id == older.id and older.superseded_by_id == newer.id
    assert older.id != data["decisions"][0].id  # that id belongs to the source space


def test_a_different_kernel_in_place_is_not_overwritten(user, make_user, client_for):
    seed_space(user)
    exported = export_json(client_for(user, "read"))
    other = make_user(tier="pro")
    kernel_update(space=space_ensure_personal(user=other), changes={"identity": {"name": "Grace"}}, actor="test")
    body = import_document(client_for(other), exported).json()
    assert body["kernel_imported"] is False
    assert [e["index"] for e in body["errors"]] == [0]
    assert "already has an Identity Kernel" in body["errors"][0]["message"]
    assert Kernel.objects.get(space__owner=other).identity == {"name": "Grace"}
    assert body["decisions_imported"] == 3  # the rest of the document still imports


def test_bad_synchronex_records_are_per_item_errors(user, client_for):
    decision = mif_memory(vendor_extensions={VENDOR: {"kind": "decision", "data": {"id": str(uuid.uuid4())}}})
    unknown = mif_memory(vendor_extensions={VENDOR: {"kind": "teleporter", "data": {}}})
    no_data = mif_memory(vendor_extensions={VENDOR: {"kind": "product_state", "data": "x"}})
    body = import_document(client_for(user), mif_document([decision, unknown, no_data, mif_memory()])).json()
    assert body["memories_imported"] == 1
    assert [e["index"] for e in body["errors"]] == [0, 1, 2]
    assert "decision" in body["errors"][0]["message"] and "product_name" in body["errors"][0]["message"]
    assert "teleporter" in body["errors"][1]["message"]


def test_decisions_need_the_decisions_write_scope(user, make_user, client_for, monkeypatch):
    seed_space(user)
    exported = export_json(client_for(user, "read"))
    original = ApiKey.allows
    monkeypatch.setattr(ApiKey, "allows", lambda self, scope: scope != "decisions:write" and original(self, scope))
    other = make_user(tier="pro")
    body = import_document(client_for(other), exported).json()
    assert body["decisions_imported"] == 0 and body["products_imported"] == 3 and body["memories_imported"] == 2
    assert {e["message"] for e in body["errors"]} == {"Importing decisions needs the decisions:write scope."}
    assert stored(other)["decisions"] == 0


# -- malformed documents and requests --------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "phrases", "field"),
    [
        ("{not json", ["not valid JSON"], None),
        ("", ["body is empty"], None),
        ("   \n", ["body is empty"], None),
        (json.dumps({"mif_version": "2.0"}), ["'memories' is missing"], "memories"),
        (json.dumps({"memories": []}), ["'mif_version' is missing"], "mif_version"),
        (json.dumps({"mif_version": "1.0", "memories": []}), ["Unsupported mif_version '1.0'", "2.x"], "mif_version"),
        (json.dumps({"mif_version": 2, "memories": []}), ["Unsupported mif_version"], "mif_version"),
        (json.dumps({"mif_version": "2.0", "memories": {"a": 1}}), ["must be an array"], "memories"),
        (json.dumps({"mif_version": "2.0", "memories": "none"}), ["must be an array"], "memories"),
        (json.dumps([{"id": str(uuid.UUID(int=1)), "content": "x"}]), ["wrap them", "mif_version"], None),
        (json.dumps("just a string"), ["not a JSON string"], None),
        ('{"mif_version": "2.0", "memories": [NaN]}', ["NaN is not valid JSON"], None),
    ],
)
def test_malformed_documents_are_validation_errors_and_write_nothing(user, client_for, body, phrases, field):
    error = assert_validation_error(import_document(client_for(user), body), *phrases)
    if field:
        assert field in error["details"]["fields"]
    assert stored(user) == {"memories": 0, "decisions": 0, "products": 0, "kernel": False}


def test_forced_format_must_match_the_body(user, client_for):
    document = mif_document([mif_memory()])
    response = import_document(client_for(user), document, params={"format": "mem0"})
    assert_validation_error(response, "mem0 export is a JSON array")
    forced = import_document(client_for(user), document, params={"format": "mif"}).json()
    assert forced["memories_imported"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "xml"}, "format"),
        ({"format": "MIF"}, "format"),
        ({"dry_run": "maybe"}, "dry_run"),
        ({"types": "memory"}, "types"),
    ],
)
def test_bad_import_parameters(user, client_for, params, field):
    response = import_document(client_for(user), mif_document([]), params=params)
    error = assert_validation_error(response)
    assert field in error["details"]["fields"]


def test_body_must_be_json_or_text(user, client_for):
    response = import_document(client_for(user), "<memories/>", content_type="application/xml")
    assert response.status_code == 415 and response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_invalid_utf8_is_a_validation_error(user, client_for):
    assert_validation_error(import_document(client_for(user), b'{"mif_version": "2.0", "memories": ["\xff"]}'))


def test_body_limit_is_25_mib_for_this_route(user, client_for):
    client = client_for(user)
    big = mif_document([mif_memory(content="x" * 90_000) for _ in range(25)])  # ~2.2 MiB: above the 1 MiB default
    body = import_document(client, big).json()
    assert body["memories_imported"] == 1 and body["duplicates_skipped"] == 24  # same content
    response = import_document(client, b" " * (25 * 1024 * 1024 + 1))
    assert response.status_code == 413 and response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_body_past_djangos_form_limit_is_read_for_an_idempotent_import(user, client_for, settings):
    """Forms keep Django's 2.5 MiB; the import route's 25 MiB holds with Idempotency-Key too,
    whose fingerprint reads the whole body."""
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440
    client = client_for(user)
    document = json.dumps(mif_document([mif_memory(content=f"{n} " + "x" * 90_000) for n in range(32)]))
    assert len(document) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # ~2.9 MB
    headers = {"Idempotency-Key": "big-import"}
    first = import_document(client, document, headers=headers)
    replay = import_document(client, document, headers=headers)
    assert first.status_code == 200 and first.json()["memories_imported"] == 32
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == first.json()
    assert stored(user)["memories"] == 32


def test_import_needs_write_access(user, client_for, api):
    response = import_document(client_for(user, "read"), mif_document([mif_memory()]))
    assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"
    assert import_document(api, mif_document([])).status_code == 401
    assert stored(user)["memories"] == 0


def test_idempotency_key_replays_the_first_answer(user, client_for):
    client = client_for(user)
    headers = {"Idempotency-Key": "import-1"}
    document = mif_document([mif_memory()])
    first = import_document(client, document, headers=headers)
    replay = import_document(client, document, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json() and first.json()["memories_imported"] == 1
    different = import_document(client, mif_document([mif_memory()]), headers=headers)
    assert different.status_code == 409
    assert stored(user)["memories"] == 1


# -- isolation -------------------------------------------------------------------------------------
def test_import_lands_in_the_callers_scope_only(user, make_user, client_for):
    seed_space(user)
    before = stored(user)
    exported = export_json(client_for(user, "read"))
    other = make_user(tier="pro")
    import_document(client_for(other), exported)
    assert stored(user) == before
    assert stored(other) == before
    assert set(Memory.objects.filter(space__owner=other).values_list("memory_id", flat=True)) == set(
        Memory.objects.filter(space__owner=user).values_list("memory_id", flat=True)
    )


def _restorable(kind: str, record_id: str, **data) -> dict:
    data = {"id": record_id, **data}
    return mif_memory(id=record_id, content=record_id, vendor_extensions={VENDOR: {"kind": kind, "data": data}})


def test_stored_ids_do_not_tell_whether_another_scope_holds_the_id(user, make_user, client_for):
    """SPEC §1/§3: the importer's answer and the ids its rows get are the same whether another
    user's scope holds the records' ids (a decision, a product state) or nobody does."""
    seeded = seed_space(user)
    taken = (str(seeded["decisions"][1].id), str(seeded["product"].id))
    free = (str(uuid.uuid4()), str(uuid.uuid4()))
    answers, shown = [], []
    for decision_id, product_id in (taken, free):
        client = client_for(make_user(tier="pro"))
        document = mif_document(
            [
                _restorable("product_state", product_id, name="Probe"),
                _restorable("decision", decision_id, decision="Probe", product_name="Probe"),
            ]
        )
        answers.append(import_document(client, document).json())
        decision = client.get(f"/api/v1/memory/decisions/{decision_id}")
        ingested = client.post(f"/api/v1/ingest/{product_id}", json={"type": "note", "body": "probe"})
        assert decision.status_code == 200 and ingested.status_code == 202, (decision.text, ingested.text)
        # Whether each row kept the document's id: never, so it tells nothing about other scopes.
        shown.append((decision.json()["id"] == decision_id, ingested.json()["product"]["id"] == product_id))
    assert answers[0] == answers[1]
    assert (answers[0]["decisions_imported"], answers[0]["products_imported"], answers[0]["errors"]) == (1, 1, [])
    assert shown == [(False, False), (False, False)]
    # The other user's rows are untouched.
    assert Decision.objects.filter(pk=taken[0], space=seeded["space"]).exists()


def test_workspace_import_goes_to_the_workspace_and_viewers_cannot_import(make_user, client_for):
    owner, viewer = make_user(tier="team"), make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    Membership.objects.create(space=workspace, user=viewer, role="viewer")
    in_workspace = {"X-Synchronex-Scope": str(workspace.id)}
    document = mif_document([mif_memory(content="Shared fact")])
    body = import_document(client_for(owner), document, headers=in_workspace).json()
    assert (body["scope"], body["memories_imported"]) == ("team", 1)
    assert Memory.objects.filter(space=workspace).count() == 1
    assert stored(owner)["memories"] == 0
    refused = import_document(client_for(viewer), mif_document([mif_memory()]), headers=in_workspace)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"


def test_kernel_record_restores_sections_version_and_timestamps(user, client_for):
    """A kernel record restored into a scope without a kernel exports exactly as it came in."""
    record = {"id": str(uuid.uuid4()), **KERNEL, "version": 4, "created_at": "2026-01-01T00:00:00Z",
              "updated_at": "2026-01-02T00:00:00Z"}  # fmt: skip
    memory = mif_memory(vendor_extensions={VENDOR: {"kind": "identity_kernel", "data": record}})
    client = client_for(user)
    assert import_document(client, mif_document([memory])).json()["kernel_imported"] is True
    exported = export_json(client)["memories"][0]["vendor_extensions"][VENDOR]["data"]
    assert exported == record
    assert client.get("/api/v1/memory/identity").headers["ETag"] == '"4"'


def test_reimporting_a_kernel_record_that_needed_normalising_is_a_duplicate(user, client_for):
    """The kernel in place is compared with the record as it was stored (trimmed, deduplicated)."""
    record = {"id": str(uuid.uuid4()), "identity": {"name": "  Zed  "}, "constraints": {"always": ["a", "a", " b "]}}
    document = mif_document([mif_memory(vendor_extensions={VENDOR: {"kind": "identity_kernel", "data": record}})])
    client = client_for(user)
    first = import_document(client, document).json()
    second = import_document(client, document).json()
    assert first["kernel_imported"] is True and first["errors"] == []
    assert second["errors"] == [] and second["kernel_imported"] is False and second["duplicates_skipped"] == 1
    kernel = Kernel.objects.get(space__owner=user)
    assert (kernel.identity, kernel.constraints, kernel.version) == ({"name": "Zed"}, {"always": ["a", "b"]}, 1)


def test_rows_restored_at_the_highest_version_can_still_be_written(user, client_for):
    """Restored versions stop at 1,000,000,000, far below the integer column's maximum: the
    product and the kernel keep taking writes (each write adds one)."""
    top = 1_000_000_000
    product = {"id": str(uuid.uuid4()), "name": "Atlas", "version": top}
    kernel = {"id": str(uuid.uuid4()), **KERNEL, "version": top}
    document = mif_document(
        [
            mif_memory(vendor_extensions={VENDOR: {"kind": "product_state", "data": product}}),
            mif_memory(vendor_extensions={VENDOR: {"kind": "identity_kernel", "data": kernel}}),
        ]
    )
    client = client_for(user)
    report = import_document(client, document).json()
    assert report["errors"] == [] and report["products_imported"] == 1 and report["kernel_imported"] is True
    state = client.post("/api/v1/memory/product/Atlas/state", json={"what_works": ["Login"]})
    assert state.status_code == 200, state.text
    assert state.json()["version"] == top + 1
    identity = client.put("/api/v1/memory/identity", json={"identity": {"name": "Grace"}})
    assert identity.status_code == 200, identity.text
    assert identity.json()["version"] == top + 1


def test_error_list_is_capped_but_counted(user, client_for):
    memories = [{"id": str(uuid.uuid4()), "created_at": "2026-01-01T00:00:00Z"} for _ in range(1_005)]
    body = import_document(client_for(user), mif_document([*memories, mif_memory()])).json()
    assert (body["memories_imported"], body["errors_total"], len(body["errors"])) == (1, 1_005, 1_000)
    assert body["errors"][0]["index"] == 0 and body["errors"][-1]["index"] == 999
