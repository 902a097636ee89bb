"""The export streams: memory use does not grow with the number of memories (SPEC §8)."""

import hashlib
import re
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from apps.memory.mif.common import EXPORT_TYPES
from apps.memory.mif.export import ExportOptions, mif_json_stream
from apps.memory.models import Memory
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db


def fill(space, count: int, *, length: int = 0) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(count):
        content = f"Memory {n}: " + "a fairly long remembered fact about the project " * 8
        content += "x" * (length - len(content))
        memory_id = uuid.uuid4()
        created = start + timedelta(seconds=n)
        raw = {
            "id": str(memory_id),
            "content": content,
            "created_at": created.isoformat(),
            "metadata": {"n": n},
            "tags": ["bulk"],
        }
        rows.append(
            Memory(
                space=space,
                memory_id=memory_id,
                content=content,
                content_sha256=hashlib.sha256(content.encode()).hexdigest(),
                tags=["bulk"],
                metadata={"n": n},
                created_at=created,
                raw=raw,
            )
        )
    Memory.objects.bulk_create(rows, batch_size=2_000)


def peak_while_exporting(space) -> tuple[int, int, int]:
    """(peak traced bytes, bytes written, memories) for one full export of ``space``."""
    options = ExportOptions(space=space, scope="personal", user_id=str(uuid.uuid4()), types=EXPORT_TYPES)
    written, chunks = 0, [b""]
    tracemalloc.start()
    try:
        for chunk in mif_json_stream(options):
            written += len(chunk)
            chunks = [chunk[-4000:]]  # keep only the tail, where export_meta sits
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    count = re.search(rb'"memory_count":(\d+)', b"".join(chunks))
    return peak, written, int(count.group(1))


def test_export_memory_stays_flat_from_2k_to_20k_memories(make_user):
    small, large = space_ensure_personal(user=make_user()), space_ensure_personal(user=make_user())
    fill(small, 2_000)
    fill(large, 20_000)
    peak_small, written_small, count_small = peak_while_exporting(small)
    peak_large, written_large, count_large = peak_while_exporting(large)
    assert (count_small, count_large) == (2_000, 20_000)
    assert written_large > 9 * written_small  # ten times the data went out …
    assert peak_large < 1.5 * peak_small  # … with about the same peak memory
    assert peak_large < written_large / 5


def test_export_memory_is_bounded_by_a_hundred_large_memories_not_a_thousand(make_user):
    """A generic memory may hold 100,000 characters, kept twice (its content and its raw record):
    a fetch of 1,000 of them would hold hundreds of megabytes."""
    space = space_ensure_personal(user=make_user())
    fill(space, 400, length=100_000)
    peak, written, count = peak_while_exporting(space)
    assert count == 400 and written > 400 * 100_000
    assert peak < written / 1.5  # 400 memories went out, about 100 held at once (twice: row and raw)
