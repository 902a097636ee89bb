"""Generic memories of an import, written in batches.

The rules are ``memory_create``'s (validation with ``memory_validate``, the same search
document, dedupe by id then by the SHA-256 of the content, per space); only the I/O is batched:
one duplicate lookup and one multi-row INSERT per batch instead of four round trips per memory.
A concurrent import of the same memories makes a batch's INSERT hit the unique constraints; that
batch is then written one memory at a time through ``memory_create``, where the constraints
decide each memory (stored, or a duplicate), so parallel imports never store a memory twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q

from apps.memory.models import Memory
from apps.memory.services import DuplicateMemory, MemoryFields, memory_create, memory_validate, search_document
from synchronex.api import errors

BATCH_SIZE = 500


@dataclass
class WriteOutcome:
    imported: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str | None, str]] = field(default_factory=list)


def describe(error: errors.ServiceError) -> str:
    """A validation error as one sentence per field: ``content: Must be non-blank text.``"""
    fields = (error.details or {}).get("fields") or {}
    if not fields:
        return error.message
    return " ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())


def _row(space, data: dict, fields: MemoryFields) -> Memory:
    return Memory(
        space=space,
        raw=data,
        search=search_document(fields),
        **{name: getattr(fields, name) for name in MemoryFields.__dataclass_fields__},
    )


def _insert(space, batch: list[tuple[int, dict, MemoryFields]], outcome: WriteOutcome) -> None:
    try:
        with transaction.atomic():
            Memory.objects.bulk_create([_row(space, data, fields) for _, data, fields in batch])
        outcome.imported += len(batch)
    except (IntegrityError, OperationalError):
        # A concurrent import holds some of these rows (unique violation, or a deadlock between
        # two documents that share rows in another order): decide each memory on its own.
        for _, data, _fields in batch:
            try:
                memory_create(space=space, data=data)
                outcome.imported += 1
            except DuplicateMemory:
                outcome.duplicates += 1


def memories_write(*, space, items: list[tuple[int, str | None, dict]], dry_run: bool) -> WriteOutcome:
    """Validate and store generic memories (``(index, given id, MIF memory)``) in ``space``.

    Bad memories are reported in ``errors`` as ``(index, id, message)``; memories the space or
    an earlier item of the same document already holds (same id, else same content) count as
    duplicates. With ``dry_run`` nothing is written and ``imported`` counts what would be.
    """
    outcome = WriteOutcome()
    valid: list[tuple[int, dict, MemoryFields]] = []
    for index, given, data in items:
        try:
            valid.append((index, data, memory_validate(data=data)))
        except errors.ValidationFailed as exc:
            outcome.errors.append((index, given, describe(exc)))
    seen_ids: set = set()
    seen_hashes: set[str] = set()
    for start in range(0, len(valid), BATCH_SIZE):
        batch = valid[start : start + BATCH_SIZE]
        stored = Memory.objects.filter(space=space).filter(
            Q(memory_id__in=[f.memory_id for _, _, f in batch])
            | Q(content_sha256__in=[f.content_sha256 for _, _, f in batch])
        )
        for memory_id, digest in stored.values_list("memory_id", "content_sha256"):
            seen_ids.add(memory_id)
            seen_hashes.add(digest)
        fresh = []
        for item in batch:
            fields = item[2]
            if fields.memory_id in seen_ids or fields.content_sha256 in seen_hashes:
                outcome.duplicates += 1
                continue
            seen_ids.add(fields.memory_id)
            seen_hashes.add(fields.content_sha256)
            fresh.append(item)
        if dry_run:
            outcome.imported += len(fresh)
        elif fresh:
            _insert(space, fresh, outcome)
    return outcome
