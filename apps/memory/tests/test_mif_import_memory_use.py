"""POST /api/v1/memory/import-mif: the memory an import holds does not grow with its bad items.

The 25 MiB body limit bounds the document, and must bound the work too: a document of millions of
items that are not memories (12.5 million ``1``s fit in 25 MiB) once held a record and an error
of each until the end, some 4 GiB for one request. The report lists 1,000 errors, so no more than
that are kept while it runs.
"""

import tracemalloc

import pytest

from apps.memory.mif.importers import mif_import
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)
ITEMS = 200_000


def peak_while_importing(space, body: str):
    tracemalloc.start()
    try:
        report = mif_import(space=space, text=body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, report


def test_millions_of_bad_items_are_counted_without_being_held(make_user):
    space = space_ensure_personal(user=make_user())
    body = '{"mif_version": "2.0", "memories": [' + ",".join(["1"] * ITEMS) + "]}"
    peak, report = peak_while_importing(space, body)
    assert (report.errors_total, len(report.errors)) == (ITEMS, 1_000)
    assert [error["index"] for error in report.errors] == list(range(1_000))
    # The parsed array itself (8 bytes an item) and the text; not a record and an error each.
    assert peak < 20 * len(body), peak


def test_bad_memories_keep_the_lowest_thousand_errors_in_order(make_user):
    space = space_ensure_personal(user=make_user())
    bad = [f'{{"id": "x{n}", "created_at": "2026-01-01"}}' for n in range(5_000)]
    items = [*bad[:2_500], "1", *bad[2_500:]]
    body = '{"mif_version": "2.0", "memories": [' + ",".join(items) + "]}"
    report = mif_import(space=space, text=body)
    assert (report.errors_total, len(report.errors)) == (5_001, 1_000)
    assert [error["index"] for error in report.errors] == list(range(1_000))
    assert report.errors[0] == {"index": 0, "id": "x0", "message": report.errors[0]["message"]}
