"""The batched writer stores exactly what ``memory_create`` stores, row for row."""

import pytest
from django.db import connection

from apps.memory.mif.writer import memories_write
from apps.memory.models import Memory
from apps.memory.services import memory_create
from apps.memory.tests.mif_support import FOREIGN, PLAIN
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

COLUMNS = [f.column for f in Memory._meta.concrete_fields if f.column not in ("id", "space_id", "stored_at")]


def row(space, memory_id) -> dict:
    columns = ", ".join(f"{c}::text" for c in COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM memory_memory WHERE space_id = %s AND memory_id = %s", [space.id, memory_id]
        )
        return dict(zip(COLUMNS, cursor.fetchone(), strict=True))


def test_batched_rows_equal_memory_create_rows(make_user):
    by_service, by_writer = space_ensure_personal(user=make_user()), space_ensure_personal(user=make_user())
    with_vector = {**PLAIN, "embeddings": {"model": "m-1", "dimensions": 3, "vector": [0.25, -1e-05, 3]}}
    samples = [
        FOREIGN,
        with_vector,
        {**PLAIN, "id": "5f0c8a6e-9d1b-4c2a-8e3f-7a6b5c4d3e2f", "content": "x", "source": None},
    ]
    for data in samples:
        memory_create(space=by_service, data=data)
    outcome = memories_write(space=by_writer, items=[(i, None, d) for i, d in enumerate(samples)], dry_run=False)
    assert (outcome.imported, outcome.duplicates, outcome.errors) == (3, 0, [])
    for memory in Memory.objects.filter(space=by_service):
        assert row(by_writer, memory.memory_id) == row(by_service, memory.memory_id)
    assert row(by_writer, with_vector["id"])["embedding"] is not None
    assert row(by_writer, samples[2]["id"])["source"] is None  # SQL NULL, not the JSON value null


def test_duplicates_within_a_batch_and_in_the_space_are_skipped(make_user):
    space = space_ensure_personal(user=make_user())
    memory_create(space=space, data=PLAIN)
    items = [
        (0, None, PLAIN),
        (1, None, {**FOREIGN}),
        (2, None, {**FOREIGN, "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}),
    ]
    outcome = memories_write(space=space, items=items, dry_run=False)
    assert (outcome.imported, outcome.duplicates) == (1, 2)
    assert Memory.objects.filter(space=space).count() == 2
