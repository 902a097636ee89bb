"""POST /api/v1/memory/import-mif: a number that is not zero but reads as 0.0 (``1e-400``, below
the smallest double) is its memory's error, as a number beyond a double (``1e400``) is: it was
imported as 0 without a word. A zero spelled with an exponent, and the smallest doubles, are
taken."""

import json

import pytest

from apps.memory.models import Memory
from apps.memory.tests.mif_support import import_document, mif_document, mif_memory

pytestmark = pytest.mark.django_db(transaction=True)
TINY = '"__tiny__"'  # replaced by the literal under test


def _import(client, overrides: dict, literal: str) -> tuple[dict, dict]:
    good = mif_memory(content="The good memory next to the other one")
    other = mif_memory(**overrides)
    body = json.dumps(mif_document([good, other])).replace(TINY, literal)
    response = import_document(client, body)
    assert response.status_code == 200, response.text
    return response.json(), other


@pytest.mark.parametrize(
    "overrides",
    [
        {"metadata": {"n": "__tiny__"}},
        {"entities": [{"name": "E", "confidence": "__tiny__"}]},
        {"embeddings": {"model": "m", "vector": [0.5, "__tiny__"]}},
    ],
    ids=["metadata", "entity", "vector"],
)
@pytest.mark.parametrize("literal", ["1e-400", "-2.5E-999"])
def test_a_non_zero_number_too_small_for_a_double_is_a_per_memory_error(write_api, overrides, literal):
    report, bad = _import(write_api, overrides, literal)
    assert report["memories_imported"] == 1, report
    (error,) = report["errors"]
    assert error["index"] == 1 and error["id"] == bad["id"]
    assert error["message"].startswith("memory: ") and "too small for a double" in error["message"]
    assert not Memory.objects.filter(memory_id=bad["id"]).exists()


@pytest.mark.parametrize("literal", ["0.0", "-0e-999", "5e-324"])
def test_zero_and_the_smallest_doubles_are_taken(write_api, literal):
    report, other = _import(write_api, {"metadata": {"n": "__tiny__"}}, literal)
    assert report["memories_imported"] == 2 and report["errors"] == [], report
    assert Memory.objects.get(memory_id=other["id"]).metadata["n"] == float(literal)


def test_a_restored_record_with_such_a_number_is_a_per_item_error(write_api):
    record = {"id": "6b1f0c3e-5a4d-4c2b-9e8f-7a6b5c4d3e2f", "name": "Atlas", "n": "__tiny__"}
    report, bad = _import(
        write_api, {"vendor_extensions": {"synchronex": {"kind": "product_state", "data": record}}}, "1e-400"
    )
    (error,) = report["errors"]
    assert error["id"] == bad["id"] and "too small for a double" in error["message"]
    assert report["products_imported"] == 0


def test_an_mcp_jsonl_line_with_such_a_number_is_that_lines_error(write_api):
    lines = [
        json.dumps({"type": "entity", "name": "Alice", "entityType": "person", "observations": []}),
        json.dumps({"type": "entity", "name": "Bob", "entityType": "person", "observations": [], "w": TINY}).replace(
            json.dumps(TINY), "1e-400"
        ),
    ]
    response = import_document(write_api, "\n".join(lines), params={"format": "mcp-jsonl"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["memories_imported"] == 1, report
    (error,) = report["errors"]
    assert error["index"] == 1 and "too small for a double" in error["message"]
