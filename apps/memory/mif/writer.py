"""Generic memories of an import, written in batches.

The rules are ``memory_create``'s — validation with ``memory_validate``, the same weighted
search document, dedupe by id then by the SHA-256 of the content, per space — only the I/O is
batched: per batch, one duplicate lookup and one ``INSERT … SELECT FROM jsonb_to_recordset``
(the rows travel as one JSON parameter; PostgreSQL computes the search document). Building one
ORM expression per row instead costs milliseconds per memory, too slow for a 25 MiB document.

``ON CONFLICT DO NOTHING … RETURNING`` makes the unique constraints the judge when another
import stores the same memories at the same moment: a row it already holds is not inserted
and is counted as a duplicate here, so parallel imports never store a memory twice. Should two
documents sharing rows in different orders deadlock, the batch is retried one memory at a time
through ``memory_create``; so is a batch with a value the database refuses, and only the memory
holding it is reported.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from functools import cache

from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Q

from apps.memory.mif.common import iso_z, keep_reported, space_kept
from apps.memory.mif.compat import exported_depth_exceeds
from apps.memory.models import SEARCH_CONFIG, Memory
from apps.memory.services import (
    DuplicateMemory,
    MemoryFields,
    memory_create,
    memory_validate,
    search_texts,
)
from synchronex.api import errors
from synchronex.api.parsers import MAX_DEPTH
from synchronex.api.rows import unprepared

logger = logging.getLogger(__name__)

BATCH_SIZE = 1_000
# As the export writes it, a memory nests at most this deep (the memory object is level 1), so
# every export, where a memory sits at level 3, reads here again (``importers.DOCUMENT_MAX_DEPTH``).
MEMORY_MAX_DEPTH = MAX_DEPTH
TOO_DEEP = (
    f"It nests more than {MEMORY_MAX_DEPTH} levels deep as the export writes it (a field the export "
    "changes for strict readers, such as metadata that is not text, moves 4 levels down, under "
    "vendor_extensions.synchronex.restore), so its export could not be imported again."
)
# Columns the INSERT computes itself rather than taking from the JSON rows.
_COMPUTED = ("search", "embedding", "stored_at")


@dataclass
class WriteOutcome:
    imported: int = 0
    duplicates: int = 0
    # The first of them by index (``keep_reported``); ``errors_total`` counts them all.
    errors: list[tuple[int, str | None, str]] = field(default_factory=list)
    errors_total: int = 0

    def error(self, index: int, given: str | None, message: str) -> None:
        self.errors_total += 1
        self.errors.append((index, given, message))
        keep_reported(self.errors, key=lambda error: error[0])


def describe(error: errors.ServiceError) -> str:
    """A validation error as one sentence per field: ``content: Must be non-blank text.``"""
    fields = (error.details or {}).get("fields") or {}
    if not fields:
        return error.message
    return " ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())


@cache
def _insert_sql() -> str:
    columns = [(f.column, f.db_type(connection)) for f in Memory._meta.concrete_fields if f.column not in _COMPUTED]
    names = ", ".join(name for name, _ in columns)
    # A JSON null in a jsonb column of the record would be the jsonb value 'null', not SQL NULL.
    selected = ", ".join(
        f"NULLIF(r.{name}, 'null'::jsonb)" if kind == "jsonb" else f"r.{name}" for name, kind in columns
    )
    definitions = ", ".join(f"{name} {kind}" for name, kind in columns)
    # Of the NFC texts through sx_searchable, as services.search_document (the quick check first:
    # normalize() has none).
    weighted = " || ".join(
        f"setweight(to_tsvector(%(config)s::regconfig, sx_searchable(CASE WHEN r.{part} IS NFC NORMALIZED"
        f" THEN r.{part} ELSE normalize(COALESCE(r.{part}, ''), NFC) END)), '{weight}')"
        for part, weight in (("search_title", "A"), ("content", "A"), ("search_b", "B"), ("search_c", "C"))
    )
    return (
        f"INSERT INTO {Memory._meta.db_table} ({names}, search, embedding, stored_at) "
        f"SELECT {selected}, {weighted}, r.embedding_text::vector, now() "
        f"FROM jsonb_to_recordset(%(rows)s::jsonb) AS r({definitions}, search_title text, search_b text, "
        f"search_c text, embedding_text text) "
        f"ON CONFLICT DO NOTHING RETURNING memory_id"
    )


def _json_row(space, data: dict, fields: MemoryFields) -> dict:
    row = {name: getattr(fields, name) for name in MemoryFields.__dataclass_fields__}
    # The texts services.search_document weighs (the content is a column of its own).
    search_title, _, search_b, search_c = search_texts(fields)
    row.update(
        id=str(uuid.uuid4()),
        space_id=str(space.id),
        memory_id=str(fields.memory_id),
        created_at=iso_z(fields.created_at),
        updated_at=iso_z(fields.updated_at),
        raw=data,
        search_title=search_title,
        search_b=search_b,
        search_c=search_c,
        embedding_text="[" + ",".join(repr(x) for x in fields.embedding) + "]" if fields.embedding else None,
    )
    del row["embedding"]
    return row


def _insert(space, batch: list[tuple[int, str | None, dict, MemoryFields]], outcome: WriteOutcome) -> None:
    payload = json.dumps([_json_row(space, data, fields) for _, _, data, fields in batch], ensure_ascii=False)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_insert_sql(), {"rows": payload, "config": SEARCH_CONFIG})
            inserted = len(cursor.fetchall())
            space_kept(space.pk)
        outcome.imported += inserted
        outcome.duplicates += len(batch) - inserted
    except (IntegrityError, OperationalError, DataError):
        # One memory at a time: a value the validation let through but the database refuses
        # (DataError) then costs that memory only, never the rest of the document.
        for index, given, data, _fields in batch:
            try:
                memory_create(space=space, data=data)
                outcome.imported += 1
            except DuplicateMemory:
                outcome.duplicates += 1
            except DataError:
                logger.exception("MIF import: the database refused memory %s", index)
                outcome.error(index, given, "The database refused a value of this memory.")


def memories_write(
    *, space, items: list[tuple[int, str | None, dict]], dry_run: bool, taken: frozenset | set = frozenset()
) -> WriteOutcome:
    """Validate and store generic memories (``(index, given id, MIF memory)``) in ``space``.

    Bad memories (also one nesting past ``MEMORY_MAX_DEPTH`` as the export writes it) are
    reported in ``errors`` as ``(index, id, message)``; memories the space or an earlier item of
    the same document already holds (same id, else same content), and those whose id is in
    ``taken`` (ids the space's other rows answer to), count as duplicates. With ``dry_run``
    nothing is written and ``imported`` counts what would be.
    """
    outcome = WriteOutcome()
    valid: list[tuple[int, str | None, dict, MemoryFields]] = []
    for index, given, data in items:
        try:
            fields = memory_validate(data=data)
        except errors.ValidationFailed as exc:
            outcome.error(index, given, describe(exc))
            continue
        if exported_depth_exceeds(data, memory=fields, limit=MEMORY_MAX_DEPTH):
            outcome.error(index, given, TOO_DEEP)
            continue
        valid.append((index, given, data, fields))
    seen_ids: set = set(taken)
    seen_hashes: set[str] = set()
    for start in range(0, len(valid), BATCH_SIZE):
        batch = valid[start : start + BATCH_SIZE]
        stored = Memory.objects.filter(space=space).filter(
            Q(memory_id__in=[f.memory_id for *_, f in batch])
            | Q(content_sha256__in=[f.content_sha256 for *_, f in batch])
        )
        # Planned for its own values, never prepared: a prepared plan compares each row of the
        # space with the 2,000 values one by one, and this import's own rows (no statistics yet)
        # are read by the space alone, so each batch took longer than the last: 50,000 small
        # memories took 65 s. Planned with the values, PostgreSQL hashes them (2 ms at 20,000 rows).
        with unprepared():
            found = list(stored.values_list("memory_id", "content_sha256"))
        for memory_id, digest in found:
            seen_ids.add(memory_id)
            seen_hashes.add(digest)
        fresh = []
        for item in batch:
            fields = item[3]
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
