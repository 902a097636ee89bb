"""A large MIF import looks for the memories a space already holds a batch of 1,000 at a time, and
each lookup is planned for its own values, never prepared: a prepared plan compared every row of
the space with the batch's 2,000 ids and digests one by one, and the rows the same import had just
written (no statistics yet) were all read, so each batch took longer than the last (50,000 small
memories in 65 s; 11 s since)."""

import json
import uuid

import pytest

from apps.memory.mif.importers import mif_import
from apps.memory.models import Memory
from apps.scopes.services import space_ensure_personal
from tests.support.prepared import never_prepared

pytestmark = pytest.mark.django_db(transaction=True)


def _document(count: int, first: int = 1) -> str:
    memories = [
        {"id": str(uuid.UUID(int=n)), "content": f"note {n}", "created_at": "2026-01-01T00:00:00Z"}
        for n in range(first, first + count)
    ]
    return json.dumps({"mif_version": "2.0", "memories": memories})


def test_the_lookups_of_a_large_import_are_never_prepared(make_user):
    space = space_ensure_personal(user=make_user())
    with never_prepared('"memory_memory"."content_sha256" IN'):
        report = mif_import(space=space, text=_document(3_500))
    assert report.memories_imported == 3_500


def test_batches_still_find_what_the_space_and_the_document_hold(make_user):
    space = space_ensure_personal(user=make_user())
    mif_import(space=space, text=_document(1_500))
    report = mif_import(space=space, text=_document(3_000, first=1_001))  # 500 held, 2,500 new
    assert (report.memories_imported, report.duplicates_skipped) == (2_500, 500)
    assert Memory.objects.filter(space=space).count() == 4_000
