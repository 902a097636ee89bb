"""POST /api/v1/memory/import-mif: a list of a memory longer than its bound is that memory's one
short error, found by the list's length alone, whatever its items are (300,000 numbers fit in the
import's body limit). Generic memories (tags, related_memory_ids, embeddings.vector) and the
records the import restores (a decision's tags and vector, a product state's lists, the kernel's
sections) alike.
"""

import json
import uuid

import pytest

from apps.memory.mif.common import VENDOR
from apps.memory.tests.mif_support import import_document, mif_document, mif_memory

pytestmark = pytest.mark.django_db(transaction=True)
ITEMS = 300_000


def _record(kind: str, **data) -> dict:
    return {"vendor_extensions": {VENDOR: {"kind": kind, "data": {"id": str(uuid.uuid4()), **data}}}}


CASES = {
    "tags": (lambda: {"tags": [0] * ITEMS}, "tags: Must be a list of at most 100 strings"),
    "related_memory_ids": (
        lambda: {"related_memory_ids": [[]] * ITEMS},
        "related_memory_ids: Must be a list of at most 1000 ids.",
    ),
    "vector of numbers": (
        lambda: {"embeddings": {"model": "m", "vector": [1] * ITEMS}},
        "embeddings.vector: At most 16000 numbers.",
    ),
    "vector of bad items": (
        lambda: {"embeddings": {"model": "m", "vector": [None] * ITEMS}},
        "embeddings.vector: At most 16000 numbers.",
    ),
    "decision vector": (
        lambda: {
            "embeddings": {"model": "m", "vector": ["x"] * ITEMS},
            **_record("decision", decision="d", product_name="Atlas"),
        },
        "embeddings.vector: At most 16000 numbers.",
    ),
    "decision tags": (
        lambda: _record("decision", decision="d", product_name="Atlas", tags=[0] * ITEMS),
        "tags: Ensure this field has no more than 20 elements.",
    ),
    "product state list": (
        lambda: _record("product_state", name="Atlas", what_works=[0] * ITEMS),
        "what_works: Ensure this field has no more than 100 elements.",
    ),
    "kernel section": (
        lambda: _record("identity_kernel", constraints={"always": [0] * ITEMS}),
        "Ensure this field has no more than 50 elements.",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_list_over_its_bound_is_one_short_error_of_its_memory(write_api, case):
    fields, expected = CASES[case]
    good = mif_memory(content="The good memory next to the long one")
    bad = mif_memory(**fields())
    response = import_document(write_api, json.dumps(mif_document([good, bad])))
    assert response.status_code == 200, response.text[:500]
    report = response.json()
    assert report["memories_imported"] == 1, str(report)[:500]
    assert report["errors_total"] == 1, str(report)[:500]
    (error,) = report["errors"]
    assert error["index"] == 1 and error["id"] == bad["id"]
    assert expected in error["message"] and len(error["message"]) < 200, error["message"][:500]
