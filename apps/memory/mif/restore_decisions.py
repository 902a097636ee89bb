"""Decisions back from ``vendor_extensions.synchronex``, restored in chunks (``restore`` says how
restored rows keep their ids and timestamps).

``decisions_restore`` takes the document's valid decisions in dependency order (one superseded
before its successor) and writes ``CHUNK`` of them per transaction, in a number of statements
that does not grow with the chunk: one lookup of the ids the space already holds, the missing
products created (``products_ensure``), the rows involved locked product first (``products_lock``:
the order every decision writer and consolidation take them in, so an import waits for a running
consolidation rather than closing a lock cycle with it), one insert — its row triggers keep the
space's search document, words and ``superseded_by`` as for any insert — one update of
``created_at``, then the links that waited for the chunk's decisions, made in one pass.

A survivor keeps its own values as consolidation recorded them (``merge_base``, checked by
``_merge_base``), so deleting one of its copies after the import takes out only what that copy gave.
A decision consolidation merged into another keeps that survivor as ``merged_into`` the same way
(``restore_merges``): linked by the chunk that places the survivor when the copy reaches it, else
left waiting in ``merged_into_pending`` and settled when every chunk is written (so is a copy whose
survivor was placed before its chunk).

A chunk is written the way restoring one decision after another would write it (its result is
the same), or not at all: when it meets something only that order settles — a concurrent import
stored a decision first, two decisions supersede one, an id taken by another space's row, a link
made to a decision a later one of the chunk supersedes too — it is rolled back and its decisions
are restored one at a time (each a chunk of one, in its own transaction), so a failing decision
costs only itself and is reported, as before. A decision that carries a vector keeps it; the
others are embedded by the import's one embedding task.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, connection
from django.db.models import Q
from django.utils import timezone
from rest_framework import serializers

from apps.decisions.api.serializers import DecisionCreateSerializer
from apps.decisions.merges import MERGED_FIELDS
from apps.decisions.models import Decision
from apps.memory.mif.common import space_kept
from apps.memory.mif.restore import DUPLICATE, IMPORTED, RestoreError, _check, _moment, _placement, _uuid, ids_in_space
from apps.memory.mif.restore_merges import merges_link, merges_settle, survivors_awaited
from apps.memory.mif.writer import describe
from apps.memory.services import embedding_validate
from apps.products.models import ProductState
from apps.products.names import product_name_keys, product_name_keys_ahead
from apps.products.services import products_ensure, products_lock
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.exceptions import to_service_error
from synchronex.db.deadlocks import retry_deadlocks

DECISION_FIELDS = ("decision", "product_name", "reasoning", "tags", "affects_products", "alternatives", "decided_at")
SUPERSEDE_KEYS = ("supersedes", "superseded_by", "merged_into")
SOURCE_MAX = 32
# Decisions per transaction: the statements of a chunk do not depend on it; its rows are held in
# memory and locked until it commits.
CHUNK = 500
ALREADY_SUPERSEDED = "The decision it supersedes is already superseded by another decision."
NOT_LINKED = "Not linked to decision {}, which supersedes it:"


@dataclass
class DecisionRecord:
    """A decision validated for restore: its original id, the original ids its ``supersedes``,
    ``superseded_by`` and ``merged_into`` name, fields (with the vector's columns when the memory
    carried one)."""

    original: uuid.UUID
    supersedes: uuid.UUID | None
    fields: dict
    created_at: datetime
    source: str
    superseded_by: uuid.UUID | None = None
    merged_into: uuid.UUID | None = None


@dataclass
class Restored:
    """What became of one record: ``outcome`` (IMPORTED or DUPLICATE) or ``error``, and warnings."""

    outcome: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def _vector_fields(embeddings) -> dict:
    """The decision's vector columns from its memory's MIF ``embeddings`` (checked as a generic
    memory's are), or none: a decision without one is embedded again by the embedding task."""
    try:
        vector, model, dimensions = embedding_validate(embeddings)
    except errors.ValidationFailed as exc:
        raise RestoreError(describe(exc)) from None
    if vector is None:
        return {}
    return {"embedding": vector, "embedding_model": model, "embedding_dimensions": dimensions}


def decision_check(data: dict, embeddings=None, *, serializer=None) -> DecisionRecord:
    """Validate a decision record (the API's rules) and its memory's ``embeddings``; raises RestoreError.

    ``serializer``: a ``DecisionCreateSerializer`` to validate with (``decisions_checking``'s),
    else a new one.
    """
    original = _uuid(data)
    links = (_uuid(data, key) if data.get(key) is not None else None for key in SUPERSEDE_KEYS)
    # A link to itself is no link (the database forbids it; the document order ignores it).
    supersedes, superseded_by, merged_into = (None if value == original else value for value in links)
    given = {key: data[key] for key in DECISION_FIELDS if key in data}
    if serializer is None:
        fields = _check(DecisionCreateSerializer(data=given))
    else:
        try:
            fields = serializer.run_validation(given)  # what is_valid runs, without binding the data
        except serializers.ValidationError as exc:
            raise RestoreError(describe(to_service_error(serializers.ValidationError(exc.detail)))) from None
    fields |= _vector_fields(embeddings)
    if (base := _merge_base(data.get("merge_base"), fields)) is not None:
        fields["merge_base"] = base
    source = data.get("source") or "mif"
    if not isinstance(source, str) or len(source) > SOURCE_MAX:
        raise RestoreError(f"source: Must be text of at most {SOURCE_MAX} characters.")
    now = timezone.now()
    created_at = _moment(data, "created_at", now)
    return DecisionRecord(original, supersedes, fields, created_at, source, superseded_by, merged_into)


def _merge_base(value, fields: dict) -> dict | None:
    """A survivor's own values (``merge_base``: its ``tags``, ``affects_products``,
    ``alternatives`` and ``reasoning`` before its copies' were added), checked by the API's rules
    for those fields and as the start of the decision's own (a merge appends after them), with the
    ``affects_keys`` the database makes of ``affects_products``; None when absent or null (a
    decision that took no copy, an export made before it was carried: its own values are then
    estimated, ``merges.merge_base_of``). Raises RestoreError."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != set(MERGED_FIELDS):
        raise RestoreError(f"merge_base: Must be an object of {', '.join(MERGED_FIELDS)}.")
    try:
        base = _check(DecisionCreateSerializer(data=value, partial=True))
    except RestoreError as exc:
        raise RestoreError(f"merge_base.{exc}") from None
    own = {name: base.get(name, "" if name == "reasoning" else []) for name in MERGED_FIELDS}
    shown = {name: fields.get(name, own[name][:0]) for name in MERGED_FIELDS}  # a text or a list
    if any(shown[name][: len(own[name])] != own[name] for name in MERGED_FIELDS):
        raise RestoreError("merge_base: Must be the start of the decision's own values (a merge adds after them).")
    return {**own, "affects_keys": product_name_keys(own["affects_products"])}


@contextmanager
def decisions_checking(datas: list[dict]) -> Iterator[Callable[..., DecisionRecord]]:
    """``decision_check`` for these records, at a fraction of its cost each: the keys of the
    products their ``affects_products`` name (which the API's rule dedupes by) are made in one
    query first, and one serializer validates them all (a new one copies its fields)."""
    names = []
    for data in datas:
        listed = data.get("affects_products")
        names += [name for name in listed if isinstance(name, str)] if isinstance(listed, list) else []
    serializer = DecisionCreateSerializer()
    with product_name_keys_ahead(names):
        yield functools.partial(decision_check, serializer=serializer)


def decisions_awaited(*, space: Space) -> set[uuid.UUID]:
    """The original ids some decision of the space names in ``supersedes`` but that are not here."""
    rows = Decision.objects.filter(space=space, supersedes_pending__isnull=False, supersedes__isnull=True)
    return set(rows.values_list("supersedes_pending", flat=True))


@dataclass
class _Import:
    """What the chunks of one import share: ``placed`` (original id → id in the space), the
    original ids awaited when it began, the survivors copies may wait for (those awaited when it
    began and those its records name), each record's ``superseded_by`` (original ids, for
    ``_successor_here``), the original ids it inserted, the products resolved so far (name → id),
    and the survivors (original id → id) some copy of which a chunk left waiting, for
    ``merges_settle``."""

    space: Space
    awaited: set
    survivors: set = field(default_factory=set)
    successors: dict = field(default_factory=dict)
    placed: dict = field(default_factory=dict)
    imported: set = field(default_factory=set)
    products: dict = field(default_factory=dict)
    unsettled: dict = field(default_factory=dict)


class _OneByOne(Exception):
    """The chunk meets something only restoring its decisions one at a time settles."""


class _InsertConflict(_OneByOne):
    def __init__(self, message: str, targeted: bool):
        super().__init__(message)
        self.targeted = targeted  # whether the (single) row named a decision it supersedes


class _LinkConflict(_OneByOne):
    """A link the pass made was refused by the database: a concurrent writer superseded the decision."""


def decisions_restore(*, space: Space, records: list[DecisionRecord]) -> list[Restored]:
    """Store validated decisions (their products created when missing), in dependency order, and
    make the links that waited for them (``_links``); one ``Restored`` per record, in order.

    A record's ``supersedes`` is linked to the decision placed in the space for it (by this
    import or before); when that decision is not here, it is kept in ``supersedes_pending``, with
    a warning, and linked when that decision arrives. When the first decision here on its
    ``superseded_by`` chain (``_above``) supersedes that one here, the record goes between them
    (``_make_room``). Its ``merged_into`` likewise (kept in
    ``merged_into_pending``, without a warning: the survivor that supersedes it is not here either),
    and dropped with a warning when the survivor here does not supersede it once all of them are
    written (``restore_merges``).
    """
    named = {record.merged_into for record in records if record.merged_into is not None}
    survivors = named | survivors_awaited(space=space)
    successors = {record.original: record.superseded_by for record in records if record.superseded_by is not None}
    work = _Import(space=space, awaited=decisions_awaited(space=space), survivors=survivors, successors=successors)
    results = []
    for start in range(0, len(records), CHUNK):
        results += _restore_chunk(work, records[start : start + CHUNK])
    if work.unsettled:
        merges_settle(space=space, unsettled=work.unsettled, records=records, placed=work.placed, results=results)
    return results


def _restore_chunk(work: _Import, chunk: list[DecisionRecord]) -> list[Restored]:
    if len(chunk) == 1:
        return [_restore_alone(work, chunk[0])]
    try:
        results, placed, products, unsettled = _write(work=work, chunk=chunk)
    except (IntegrityError, _OneByOne):
        return [result for record in chunk for result in _restore_chunk(work, [record])]
    work.placed |= placed
    work.imported |= {
        record.original for record, result in zip(chunk, results, strict=True) if result.outcome == IMPORTED
    }
    work.products |= products
    work.unsettled |= unsettled
    return results


def _restore_alone(work: _Import, record: DecisionRecord) -> Restored:
    """One decision in its own transaction; a conflict is answered as the one-at-a-time restore did."""
    attempt = 0
    for _ in range(3):
        try:
            results, placed, products, unsettled = _write(work=work, chunk=[record], attempt=attempt)
        except _LinkConflict:
            continue  # the writer it met has committed: the next run sees its link
        except (_InsertConflict, IntegrityError) as exc:
            # An IntegrityError itself comes from the commit (a deferred key: the target went).
            cause = exc.__cause__ if isinstance(exc, _InsertConflict) else exc
            if ids_in_space(Decision, space=work.space, originals=[record.original], kind="decision"):
                continue  # a concurrent import stored it first: the next run finds it, a duplicate
            if not isinstance(exc, _InsertConflict) and work.products:
                work.products.clear()  # a product resolved earlier was deleted since: resolve them again
                continue
            targeted = exc.targeted if isinstance(exc, _InsertConflict) else record.supersedes is not None
            if targeted and "supersedes" in str(cause):
                return Restored(error=ALREADY_SUPERSEDED)
            pk, _ = _placement(space=work.space, original=record.original, kind="decision", attempt=attempt)
            if attempt or not Decision.objects.filter(pk=pk).exists():
                raise cause from None
            attempt = 1  # a row of another space holds the derived id: once more, with a random one
            continue
        work.placed |= placed
        work.imported |= {record.original} if results[0].outcome == IMPORTED else set()
        work.products |= products
        work.unsettled |= unsettled
        return results[0]
    return Restored(error="The decision could not be stored (its id is taken, or its links kept changing).")


@retry_deadlocks
def _write(*, work: _Import, chunk: list[DecisionRecord], attempt: int = 0) -> tuple[list[Restored], dict, dict, dict]:
    """Write one chunk (module docstring); returns its results, the ids it placed, the products it
    resolved and the survivors it left copies waiting for, which the caller keeps once the chunk
    has committed."""
    space = work.space
    asked = {record.original for record in chunk}
    asked |= {record.superseded_by for record in chunk if record.superseded_by is not None}
    asked |= {record.supersedes for record in chunk if record.supersedes is not None} - work.placed.keys()
    asked |= {record.merged_into for record in chunk if record.merged_into is not None} - work.placed.keys()
    existing = ids_in_space(Decision, space=space, originals=asked, kind="decision")
    # A record that supersedes a decision here before the import, and names a successor, may go
    # between them (``_make_room``): the first decision here up its successors, read in one more
    # lookup when the chain passes decisions of the import this one has not asked about.
    inserting = {
        record.original
        for record in chunk
        if record.superseded_by is not None
        and record.original not in existing
        and (
            record.supersedes in existing
            or (record.supersedes in work.placed and record.supersedes not in work.imported)
        )
    }
    chains = _above(work.successors, [record.superseded_by for record in chunk if record.original in inserting])
    higher = {}
    if unknown := chains - asked - work.placed.keys():
        higher = ids_in_space(Decision, space=space, originals=unknown, kind="decision")
    found: dict = {}  # original id → the first decision here up its chain (``_successor_here``)

    def here(original):
        return existing.get(original) or higher.get(original) or work.placed.get(original)

    results, placed, rows, names, moments = [], {}, [], [], []
    between = {}  # the decision a new one supersedes → the one its record names as its successor
    for record in chunk:
        if record.original in existing:
            placed[record.original] = existing[record.original]
            results.append(Restored(DUPLICATE))
            continue
        target = None
        if record.supersedes is not None:
            target = placed.get(record.supersedes) or work.placed.get(record.supersedes)
            target = target or existing.get(record.supersedes)
            if target is not None and record.original in inserting:
                successor = _successor_here(work.successors, record.superseded_by, here, found)
                if successor is not None:
                    between[target] = successor
        fields = dict(record.fields)
        names.append(fields.pop("product_name"))
        pk, origin_id = _placement(space=space, original=record.original, kind="decision", attempt=attempt)
        rows.append(
            Decision(
                id=pk,
                origin_id=origin_id,
                space=space,
                supersedes_id=target,
                supersedes_pending=record.supersedes if target is None else None,
                merged_into_pending=record.merged_into,  # linked below when its survivor is placed
                source=record.source,
                decided_at=fields.pop("decided_at", None) or record.created_at,
                **fields,
            )
        )
        moments.append(record.created_at)
        placed[record.original] = pk
        results.append(Restored(IMPORTED))
        if record.supersedes is not None and target is None:
            results[-1].warnings.append(
                f"Imported without its link to decision {record.supersedes}, which it supersedes: that "
                "decision is not in this scope. The link is made when it is imported."
            )
    candidates = _candidates(work, chunk, existing, placed)
    # Survivors of this chunk that copies stored before it may wait for (each copy waits in
    # ``merged_into_pending`` until ``merges_link``). Those here before the chunk that its copies
    # name are left to ``merges_settle``, which reads each of their copies once: read by each chunk
    # naming them, the copies stored by the chunks before were read again and again.
    ready = {original: pk for original, pk in placed.items() if original in work.survivors}
    later = {}
    for survivor in {row.merged_into_pending for row in rows} - {None} - ready.keys():
        if pk := work.placed.get(survivor) or existing.get(survivor):
            later[survivor] = pk

    products = {}
    # In the chunk's order: of two spellings of a new product, the first decision's is kept.
    if missing := [name for name in dict.fromkeys(names) if name not in work.products]:
        products = {name: product.pk for name, product in products_ensure(space=space, names=missing).items()}
    known = work.products | products
    for row, name in zip(rows, names, strict=True):
        row.product_id = known[name]
    if rows or candidates or ready:
        # The stored decisions the chunk links to: those its new decisions supersede, the
        # successors that may adopt its decisions, and its decisions those successors would
        # supersede; and the copies waiting for its survivors.
        stored = {row.supersedes_id for row in rows} | {placed[chunk[i].original] for i in candidates}
        stored |= {pk for pks, named in candidates.values() for pk in (*pks, named)}
        stored -= {row.pk for row in rows} | {None}
        involved = Decision.objects.filter(pk__in=stored).values("product_id")
        new = {row.product_id for row in rows}
        locked = Q(pk__in=new) | Q(pk__in=involved)
        if ready:
            waiting = Decision.objects.filter(space=space, merged_into_pending__in=list(ready))
            locked |= Q(pk__in=waiting.values("product_id"))
        products_lock(product_ids=ProductState.objects.filter(locked).values("pk"))
    if between:
        _make_room(between)
    if rows:
        _insert(rows, moments)
    if candidates:
        _links(chunk, placed, candidates, {row.supersedes_id for row in rows}, results)
    unsettled = later
    if ready:
        # After the links: whether a survivor supersedes its copy depends on them.
        position = {placed[record.original]: i for i, record in enumerate(chunk)}
        unsettled |= merges_link(space, ready, position, {row.pk for row in rows}, results)
    space_kept(space.pk)
    return results, placed, products, unsettled


def _above(successors: dict, starts) -> set:
    """The original ids up the ``superseded_by`` chains, in the import's records, from ``starts``
    (each visited once, whatever the chains share)."""
    seen: set = set()
    for node in starts:
        while node is not None and node not in seen:
            seen.add(node)
            node = successors.get(node)
    return seen


def _successor_here(successors: dict, start, here: Callable, found: dict):
    """The id of the first decision here (``here(original)``: its id in the space, or None) up the
    ``superseded_by`` chain in the import's records from ``start``, or None; ``found`` remembers
    it for each id walked, so a chunk walks each chain once."""
    path, node = {}, start  # walked, in order (a dict: a cycle ends the walk)
    while node is not None and node not in found and here(node) is None and node not in path:
        path[node] = None
        node = successors.get(node)
    result = found.get(node) if node in found else (here(node) if node is not None else None)
    for walked in path:
        found[walked] = result
    return result


def _make_room(between: dict) -> None:
    """Cut each link "``successor`` supersedes ``older``" of ``between`` (``{older: successor}``, ids)
    that is there: a record that supersedes ``older`` and whose ``superseded_by`` chain in the
    import first reaches the space at ``successor`` goes between them, where consolidation put it
    (merging D into S, which superseded X, made S supersede D and D supersede X; merging D1 and D2,
    X ← D2 ← D1 ← S; an export since an earlier one holds them, and the earlier one's S superseding
    X is here). The insert then links it to ``older``; the copies above it follow it, in its chunk
    or later ones, each superseding the one below, and ``_links`` links ``successor`` to the last
    (its record's ``superseded_by``). A link that is not there (``older`` superseded by another
    decision, or by none) is left alone: the insert then refuses a second successor as before."""
    with connection.cursor() as cursor:
        # The trigger of decisions/0002 clears ``older.superseded_by``.
        cursor.execute(
            f"UPDATE {Decision._meta.db_table} AS d SET supersedes_id = NULL"
            " FROM unnest(%s::uuid[], %s::uuid[]) AS v(older, successor)"
            " WHERE d.id = v.successor AND d.supersedes_id = v.older",
            [list(between), list(between.values())],
        )


def _insert(rows: list[Decision], moments: list[datetime]) -> None:
    """One insert (the row triggers fire for each row), then the records' own ``created_at``."""
    try:
        Decision.objects.bulk_create(rows)
    except IntegrityError as exc:
        raise _InsertConflict(str(exc), targeted=rows[0].supersedes_id is not None) from exc
    with connection.cursor() as cursor:
        # The insert stamped them with now (``auto_now_add`` overrides the value given).
        cursor.execute(
            f"UPDATE {Decision._meta.db_table} AS d SET created_at = v.at"
            " FROM unnest(%s::uuid[], %s::timestamptz[]) AS v(id, at) WHERE d.id = v.id",
            [[row.pk for row in rows], moments],
        )


def _candidates(work: _Import, chunk: list[DecisionRecord], existing: dict, placed: dict) -> dict:
    """``{position: (waiting, named)}`` of the chunk's decisions some decision may come to supersede:
    ``waiting``, the space's decisions that named it in ``supersedes`` before it was here (oldest
    first; only asked for when ``awaited`` says there are any), and ``named``, the decision its
    record names in ``superseded_by`` if the space holds it — before this decision was placed, as
    one-at-a-time restore saw it (whether it supersedes nothing yet is ``_links``'s to check)."""
    waiting: dict = {}
    if ready := [record.original for record in chunk if record.original in work.awaited]:
        rows = Decision.objects.filter(space=work.space, supersedes_pending__in=ready, supersedes__isnull=True)
        for pk, pending in rows.order_by("created_at", "id").values_list("pk", "supersedes_pending"):
            waiting.setdefault(pending, []).append(pk)
    position = {record.original: i for i, record in enumerate(chunk)}
    found = {}
    for i, record in enumerate(chunk):
        pks = waiting.get(record.original, [])
        named = existing.get(record.superseded_by)
        if named is None and position.get(record.superseded_by, i) < i:
            named = placed[record.superseded_by]
        if named in pks or named == placed[record.original]:
            named = None
        if pks or named is not None:
            found[i] = (pks, named)
    return found


@dataclass
class _Newer:
    label: uuid.UUID
    supersedes: uuid.UUID | None
    pending: uuid.UUID | None


def _links(chunk: list[DecisionRecord], placed: dict, candidates: dict, superseding: set, results: list) -> None:
    """The links that waited for the chunk's decisions, made as one-at-a-time restore made them after
    each decision (in order, each seeing the ones before), in four statements.

    A decision's successors: the ``waiting`` ones, then ``named`` if it supersedes nothing and waits
    for nothing. The rules of ``supersedes`` hold: a decision is superseded at most once and no chain
    closes a cycle. A link they forbid is not made (the successor stops waiting) and is told in the
    decision's warnings. A link to a decision a new decision of the chunk supersedes too would have
    been made before that insert (and refused it): the chunk is restored one at a time then.
    """
    olders = {placed[chunk[i].original] for i in candidates}
    if olders & superseding:
        raise _OneByOne()
    newers = {pk for pks, named in candidates.values() for pk in (*pks, named) if pk is not None}
    rows = Decision.objects.select_for_update().filter(pk__in=newers)
    columns = ("pk", "origin_id", "supersedes_id", "supersedes_pending")
    state = {pk: _Newer(origin or pk, sup, pending) for pk, origin, sup, pending in rows.values_list(*columns)}
    superseded = set(Decision.objects.filter(pk__in=olders, superseded_by__isnull=False).values_list("pk", flat=True))
    edges = _chains(olders)
    changes: dict = {}
    for i, (pks, named) in sorted(candidates.items()):
        older = placed[chunk[i].original]
        successors = list(pks)
        if named is not None and (row := state.get(named)) and row.supersedes is None and row.pending is None:
            successors.append(named)
        for newer in successors:
            row = state.get(newer)
            if row is None or row.supersedes is not None:
                continue  # a concurrent import linked it first
            if older in superseded:
                problem = f"{NOT_LINKED.format(row.label)} it is already superseded by another."
            elif _reaches(edges, start=older, target=newer):
                problem = f"{NOT_LINKED.format(row.label)} the link would close a cycle."
            else:
                row.supersedes = edges[newer] = changes[newer] = older
                row.pending = None
                superseded.add(older)
                continue
            row.pending = changes[newer] = None
            results[i].warnings.append(problem)
    if not changes:
        return
    try:
        with connection.cursor() as cursor:
            # The trigger of decisions/0002 marks each ``older.superseded_by``.
            cursor.execute(
                f"UPDATE {Decision._meta.db_table} AS d SET supersedes_id = v.older, supersedes_pending = NULL"
                " FROM unnest(%s::uuid[], %s::uuid[]) AS v(newer, older) WHERE d.id = v.newer",
                [list(changes), list(changes.values())],
            )
    except IntegrityError as exc:
        raise _LinkConflict() from exc


def _chains(starts: set) -> dict:
    """``{id: supersedes_id}`` of every decision reachable from ``starts`` by ``supersedes`` (one query)."""
    table = Decision._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE chain(id, next) AS (SELECT id, supersedes_id FROM {table} WHERE id = ANY(%s) "
            f"UNION SELECT d.id, d.supersedes_id FROM {table} d JOIN chain ON d.id = chain.next) "
            "SELECT id, next FROM chain WHERE next IS NOT NULL",
            [list(starts)],
        )
        return dict(cursor.fetchall())


def _reaches(edges: dict, *, start, target) -> bool:
    """Whether following ``supersedes`` from ``start`` leads to ``target``."""
    seen, node = set(), edges.get(start)
    while node is not None and node not in seen:
        if node == target:
            return True
        seen.add(node)
        node = edges.get(node)
    return False
