"""POST /api/v1/memory/import-mif: items the database cannot hold are per-item errors, never a 500/503.

Each document carries one bad item next to a good one: the answer is 200, the bad item is in
``errors`` (with its index and id) and the good one is imported.
"""

import json
import uuid

import pytest

from apps.identity.models import Kernel
from apps.memory.mif.common import VENDOR
from apps.memory.models import Memory
from apps.memory.tests.mif_support import KERNEL, export_json, import_document, mif_document, mif_memory
from apps.products.models import ProductState

pytestmark = pytest.mark.django_db(transaction=True)
HUGE = '"__huge__"'  # replaced by a JSON number no double can hold


def import_with_one_bad_item(client, bad: dict, *, huge: str | None = None) -> dict:
    good = mif_memory(content="The good memory next to the bad one")
    body = json.dumps(mif_document([good, bad]))
    if huge is not None:
        body = body.replace(HUGE, huge)
    response = import_document(client, body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["memories_imported"] == 1, report
    assert [error["index"] for error in report["errors"]] == [1], report
    assert Memory.objects.filter(memory_id=good["id"]).exists()
    return report["errors"][0]


@pytest.mark.parametrize("moment", ["2026-02-30T10:00:00Z", "٢٠٢٦-٠٢-٠١T10:00:00Z"])  # ISO 8601 is ASCII
@pytest.mark.parametrize("field", ["created_at", "updated_at"])
def test_an_impossible_calendar_date_is_a_per_memory_error(write_api, field, moment):
    bad = mif_memory(**{field: moment})
    error = import_with_one_bad_item(write_api, bad)
    assert error["id"] == bad["id"] and field in error["message"]


@pytest.mark.parametrize(
    ("field", "moment"),
    [("created_at", "0001-01-01T00:00:00+05:00"), ("updated_at", "9999-12-31T23:00:00-05:00")],
)
def test_a_moment_outside_the_years_1_to_9999_in_utc_is_a_per_memory_error(write_api, field, moment):
    bad = mif_memory(**{field: moment})
    error = import_with_one_bad_item(write_api, bad)
    assert error["id"] == bad["id"] and f"{field}:" in error["message"]


def test_a_restored_moment_outside_the_years_1_to_9999_in_utc_is_a_per_item_error(write_api):
    record = {"id": str(uuid.uuid4()), "name": "Atlas", "created_at": "0001-01-01T00:00:00+05:00"}
    bad = mif_memory(vendor_extensions={VENDOR: {"kind": "product_state", "data": record}})
    error = import_with_one_bad_item(write_api, bad)
    assert "created_at" in error["message"]
    assert not ProductState.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [{"content": "a\ud800b"}, {"tags": ["ok", "\udfff"]}, {"metadata": {"k\ud800": "v"}}],
    ids=["content", "tag", "metadata key"],
)
def test_a_lone_surrogate_is_a_per_memory_error(write_api, overrides):
    bad = mif_memory(**overrides)
    error = import_with_one_bad_item(write_api, bad)
    assert error["id"] == bad["id"] and "surrogate" in error["message"]


def test_a_lone_surrogate_in_a_given_id_is_reported_without_it(write_api):
    error = import_with_one_bad_item(write_api, mif_memory(id="id-\ud800"))
    assert error["id"] == "id-\ufffd" and "id" in error["message"]


@pytest.mark.parametrize("with_id", [True, False], ids=["with id", "without id"])
def test_a_mem0_item_with_a_lone_surrogate_is_reported(write_api, with_id):
    bad = {"memory": "a\ud800b", **({"id": str(uuid.uuid4())} if with_id else {})}
    response = import_document(write_api, [{"id": str(uuid.uuid4()), "memory": "A good mem0 memory"}, bad])
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["memories_imported"] == 1
    assert [error["index"] for error in report["errors"]] == [1]
    assert "lone UTF-16 surrogate" in report["errors"][0]["message"]


@pytest.mark.parametrize(
    ("overrides", "huge", "field"),
    [
        ({"metadata": {"n": "__huge__"}}, "1e400", "memory"),
        ({"entities": [{"name": "E", "confidence": "__huge__"}]}, "-1e400", "memory"),
        ({"embeddings": {"model": "m", "vector": [0.5, "__huge__"]}}, "1e400", "memory"),
        ({"embeddings": {"model": "m", "vector": [0.5, "__huge__"]}}, "1" + "0" * 400, "embeddings.vector"),
    ],
    ids=["metadata", "entity", "vector", "vector integer"],
)
def test_a_number_beyond_double_range_is_a_per_memory_error(write_api, overrides, huge, field):
    bad = mif_memory(**overrides)
    error = import_with_one_bad_item(write_api, bad, huge=huge)
    assert error["id"] == bad["id"] and f"{field}:" in error["message"]


@pytest.mark.parametrize("vector", [[0.5, 1e300], [0.0, 0.0, 0.0]], ids=["beyond float32", "all zeros"])
def test_a_vector_component_beyond_a_32_bit_float_is_a_per_memory_error(write_api, vector):
    # An all-zero vector has no direction: its cosine distance to every vector is NaN.
    bad = mif_memory(embeddings={"model": "m", "vector": vector})
    error = import_with_one_bad_item(write_api, bad)
    assert error["id"] == bad["id"] and "embeddings.vector:" in error["message"]


def test_a_component_that_rounds_to_infinity_as_a_32_bit_float_is_refused_naming_the_bound(write_api):
    # Half-way between the largest 32-bit float and the next power of two: it rounds to infinity.
    bad = mif_memory(embeddings={"model": "m", "vector": [0.5, 3.4028235677973366e38]})
    error = import_with_one_bad_item(write_api, bad)
    assert error["message"] == (
        "embeddings.vector: Must be a non-empty list of numbers a 32-bit float holds (at most 3.4028235e38 in size)."
    )


def test_a_value_the_database_refuses_costs_only_its_own_memory(write_api, monkeypatch):
    # Should a value pass validation that the database then refuses, the batch is written one
    # memory at a time and that memory alone is reported.
    monkeypatch.setattr("apps.memory.services.MAX_VECTOR_COMPONENT", float("inf"))
    bad = mif_memory(embeddings={"model": "m", "vector": [0.5, 1e300]})
    error = import_with_one_bad_item(write_api, bad)
    assert error == {"index": 1, "id": bad["id"], "message": "The database refused a value of this memory."}


def test_a_long_list_of_entities_is_stored_and_searchable_by_its_first_names(write_api):
    # 100,000 distinct words: their tsvector alone would be over PostgreSQL's 1 MiB limit.
    names = [f"entity{number:06d}" for number in range(100_000)]
    memory = mif_memory(content="Many entities", entities=[{"name": name} for name in names])
    report = import_document(write_api, mif_document([memory])).json()
    assert (report["memories_imported"], report["errors"]) == (1, [])
    found = write_api.get("/api/v1/memory/search", params={"q": "entity000001", "types": "memory"}).json()
    assert [item["title"] for item in found["results"]] == ["Many entities"]


def test_a_vector_longer_than_the_database_holds_is_a_per_memory_error(write_api):
    bad = mif_memory(embeddings={"model": "m", "vector": [0.25] * 16_001})
    error = import_with_one_bad_item(write_api, bad)
    assert error["id"] == bad["id"] and "16000" in error["message"]
    fits = mif_memory(embeddings={"model": "m", "vector": [0.25] * 16_000})
    assert import_document(write_api, mif_document([fits])).json()["memories_imported"] == 1


@pytest.mark.parametrize(("kind", "extra"), [("product_state", {"name": "Atlas"}), ("identity_kernel", KERNEL)])
def test_a_restored_version_beyond_the_integer_column_is_a_per_item_error(write_api, kind, extra):
    record = {"id": str(uuid.uuid4()), "version": 3_000_000_000, **extra}
    bad = mif_memory(vendor_extensions={VENDOR: {"kind": kind, "data": record}})
    error = import_with_one_bad_item(write_api, bad)
    assert "version" in error["message"]
    # The column's own maximum is refused too: the next write would overflow it, for good.
    record["version"] = 2**31 - 1
    report = import_document(write_api, mif_document([bad])).json()
    assert [error["index"] for error in report["errors"]] == [0], report
    assert "version" in report["errors"][0]["message"] and "1000000000" in report["errors"][0]["message"]
    record["version"] = 1_000_000_000
    report = import_document(write_api, mif_document([bad])).json()
    assert report["errors"] == [] and (report["products_imported"] or report["kernel_imported"])


def test_a_restored_kernel_with_a_null_product_is_a_per_item_error(write_api):
    record = {"id": str(uuid.uuid4()), **KERNEL, "products": [{"name": "Ok"}, None]}
    bad = mif_memory(vendor_extensions={VENDOR: {"kind": "identity_kernel", "data": record}})
    error = import_with_one_bad_item(write_api, bad)
    assert error["message"].startswith("products[1]:"), error
    assert not Kernel.objects.filter(version__gt=0).exists()


@pytest.mark.parametrize(
    ("embeddings", "field"),
    [
        ({"model": "m-1", "dimensions": 3, "vector": [0.6, 0.8]}, "embeddings.dimensions"),
        ({"vector": [0.6, 0.8]}, "embeddings.model"),
        ({"model": "m-1", "vector": [0.6, "x"]}, "embeddings.vector"),
        ({"model": "m-1", "vector": [0.0, 0.0]}, "embeddings.vector"),  # no direction: NaN distances
        ({"model": "m-1", "vector": [1e-30, 0]}, "embeddings.vector"),
        ({"model": "m\u0000", "vector": [0.6, 0.8]}, "embeddings"),
        ("not an object", "embeddings"),
    ],
)
def test_a_restored_decisions_bad_vector_is_a_per_item_error(write_api, embeddings, field):
    """A decision's vector is checked as a generic memory's is (memory_validate)."""
    record = {"id": str(uuid.uuid4()), "decision": "Use PostgreSQL", "product_name": "Atlas"}
    bad = mif_memory(embeddings=embeddings, vendor_extensions={VENDOR: {"kind": "decision", "data": record}})
    report = import_document(write_api, mif_document([mif_memory(content="The good memory next to the bad one"), bad]))
    report = report.json()
    assert [e["index"] for e in report["errors"]] == [1], report
    assert report["errors"][0]["message"].startswith(f"{field}:"), report
    assert report["decisions_imported"] == 0 and report["memories_imported"] == 1


def test_restored_text_the_database_cannot_hold_is_a_per_item_error(write_api):
    record = {"id": str(uuid.uuid4()), "name": "Atlas", "last_session_summary": "half \ud800 a character"}
    bad = mif_memory(vendor_extensions={VENDOR: {"kind": "product_state", "data": record}})
    error = import_with_one_bad_item(write_api, bad)
    assert "surrogate" in error["message"]
    assert not ProductState.objects.exists()


@pytest.mark.parametrize("fmt", ["mcp-jsonl", "auto"])
def test_a_jsonl_line_nested_too_deeply_is_a_per_line_error(write_api, fmt):
    good = json.dumps({"type": "entity", "name": "Ada", "entityType": "person", "observations": ["Writes notes"]})
    deep = '{"type": "entity", "name": "Deep", "x": ' + "[" * 10_000 + "]" * 10_000 + "}"
    response = import_document(write_api, f"{good}\n{deep}\n", params={"format": fmt}, content_type="text/plain")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["memories_imported"] == 1
    assert [error["index"] for error in report["errors"]] == [1]
    assert report["errors"][0]["message"].startswith("line 2: not valid JSON")


# -- nesting: what the import takes, its export gives back -----------------------------------------
def nest(levels: int):
    """``levels`` objects, one inside the other, around a string."""
    value = "leaf"
    for _ in range(levels):
        value = {"x": value}
    return value


def _round_trip(client_for, make_user, document, *, content_type="application/json") -> dict:
    """Import ``document`` into a new space, export that space, import the export into another."""
    first = client_for(make_user(tier="pro"))
    report = import_document(first, document, content_type=content_type).json()
    exported = export_json(first)
    again = import_document(client_for(make_user(tier="pro")), exported)
    assert again.status_code == 200, again.text
    assert again.json()["errors"] == [], again.text
    assert again.json()["memories_imported"] == len(exported["memories"])
    return report


def test_a_memory_with_non_text_metadata_at_the_depth_limit_survives_the_round_trip(make_user, client_for):
    # The memory nests 60 levels; the export moves its metadata 4 levels down (the restore patch),
    # to 64, which is level 66 of the exported document.
    at_limit = mif_memory(metadata={"deep": nest(58)})
    report = _round_trip(client_for, make_user, mif_document([at_limit, mif_memory()]))
    assert (report["memories_imported"], report["errors"]) == (2, [])


def test_a_memory_the_export_would_nest_too_deep_is_a_per_item_error(write_api):
    bad = mif_memory(metadata={"deep": nest(59)})  # 61 levels here, 65 as exported
    error = import_with_one_bad_item(write_api, bad)
    assert (error["id"], "64 levels" in error["message"]) == (bad["id"], True), error


def test_a_document_nested_past_64_levels_costs_only_its_deep_memory(write_api):
    error = import_with_one_bad_item(write_api, mif_memory(x_extra=nest(100)))
    assert "64 levels" in error["message"]


def test_a_jsonl_record_at_the_depth_limit_survives_the_round_trip(make_user, client_for):
    # The record sits under vendor_extensions.mcp-memory: two levels below the memory.
    line = {"type": "entity", "name": "Deep", "entityType": "x", "observations": ["o"], "x": nest(60)}
    report = _round_trip(client_for, make_user, json.dumps(line), content_type="application/x-ndjson")
    assert (report["memories_imported"], report["errors"]) == (1, [])


def test_a_restored_session_summary_is_stored_as_its_other_writers_store_it(write_api):
    """NFC and trimmed, as MCP ``end_session`` and an ingested ``session_summary`` store it."""
    record = {"id": str(uuid.uuid4()), "name": "Atlas", "last_session_summary": "  Cafe\u0301 shipped  \n"}
    report = import_document(write_api, mif_document([product_record(record)])).json()
    assert report["errors"] == [], report
    assert ProductState.objects.get().last_session_summary == "Caf\u00e9 shipped"


@pytest.mark.parametrize(
    ("summary", "stored"), [("x" * 4_000, True), (" " + "x" * 4_000 + " ", True), ("x" * 4_001, False)]
)
def test_a_restored_session_summary_keeps_the_4000_character_limit(write_api, summary, stored):
    record = {"id": str(uuid.uuid4()), "name": "Atlas", "last_session_summary": summary}
    if stored:
        report = import_document(write_api, mif_document([product_record(record)])).json()
        assert report["errors"] == [], report
        assert ProductState.objects.get().last_session_summary == "x" * 4_000
    else:
        error = import_with_one_bad_item(write_api, product_record(record))
        assert error["message"] == "last_session_summary: Must be text of at most 4,000 characters."
        assert not ProductState.objects.exists()


def product_record(record: dict) -> dict:
    return mif_memory(vendor_extensions={VENDOR: {"kind": "product_state", "data": record}})
