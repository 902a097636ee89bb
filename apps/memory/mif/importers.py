"""MIF import (SPEC §8): read the body in one of three formats, then restore or store each item.

Formats (``format=auto`` detects them from the body):

- ``mif``: a MIF v2 document ``{"mif_version": "2.x", "memories": [...]}``;
- ``mem0``: a mem0 export, a JSON array of ``{id, memory, …}`` (or ``{"results": [...]}``);
- ``mcp-jsonl``: the MCP memory server's JSONL, one ``{"type": "entity"|"relation", …}`` per line.

Graph data becomes memories too (``graph``): a mem0 export's ``relations`` and a MIF document's
``knowledge_graph``. What a document holds besides its memories and graph and the import does
not read — other systems' document-level ``vendor_extensions``, unknown top-level fields, keys
of ``knowledge_graph`` other than ``entities`` and ``relationships``, such a part of the wrong
shape — is named in the report's ``not_imported`` (as paths: ``vendor_extensions.othertool``),
so nothing is dropped without a word. ``generator`` and ``export_meta`` only describe the file
and are not listed.

Problems with the document as a whole (empty, not JSON, an object that repeats a key, nested past
``DOCUMENT_MAX_DEPTH``, no ``memories``, a ``mif_version`` other than 2.x, ``memories`` not an
array) are a VALIDATION_ERROR and nothing is written (in MCP JSONL, each line is its own document).
Problems with one item never stop the others: they are reported as ``{index, id, message}``.
That includes values PostgreSQL cannot hold (NUL, a lone UTF-16 surrogate, a number beyond a
double such as ``1e400``) and a number that is not zero but reads as 0 (``1e-400``): the body is
parsed here rather than by the API's JSON parser, which refuses such a body whole, so that one
such memory costs only itself. So does a generic memory
that the export would write nested past ``writer.MEMORY_MAX_DEPTH``: refused here, it can never
make an export that the import refuses.

Items carrying ``vendor_extensions.synchronex`` data of a decision, product state or kernel are
restored as such (``restore``); every other item is a generic memory (``writer``), stored as
given, with this service's own extension removed and its restore patch applied (``compat``).
Order: product states, decisions (superseded ones before their successors), the kernel, then
generic memories; the product names of an earlier release's export are mapped first
(``legacy_names``). Re-importing a document changes nothing: each item is found again by id (and
generic memories also by content; a generic memory whose id names a decision, product state or
kernel of the space is that record, ``_record_ids``). A dry run restores the same way inside a
transaction it rolls back (``_restore_records`` says why), so its report is the real run's;
generic memories, whose checks all come before the write, it only counts.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain

from django.db import transaction
from django.utils import timezone

from apps.decisions.models import Decision
from apps.identity.models import Kernel
from apps.memory.mif.common import (
    KIND_DECISION,
    KIND_KERNEL,
    KIND_MEMORY,
    KIND_PRODUCT,
    MAX_REPORTED_ERRORS,
    VENDOR,
    Candidate,
    canonical_uuid,
    cut_reported,
    given_id,
    keep_reported,
)
from apps.memory.mif.compat import UNKNOWN_AGENT, from_compatible
from apps.memory.mif.graph import knowledge_graph_candidates
from apps.memory.mif.legacy_names import legacy_names_map
from apps.memory.mif.mcp_jsonl import looks_like_jsonl, mcp_candidates
from apps.memory.mif.mem0 import mem0_candidates, mem0_relation_candidates
from apps.memory.mif.restore import DUPLICATE, RestoreError, ids_in_space, kernel_restore, product_restore
from apps.memory.mif.restore_decisions import decisions_checking, decisions_restore
from apps.memory.mif.writer import MEMORY_MAX_DEPTH, memories_write
from apps.memory.services import LONE_SURROGATE, unstorable
from apps.memory.tasks import embed_pending_on_commit
from apps.products.models import ProductState
from synchronex.api import errors
from synchronex.api.parsers import JsonRefused, depth_exceeds, marked_float, unique_keys

FORMATS = ("auto", "mif", "mem0", "mcp-jsonl")
# The top-level fields of a MIF document the import reads (generator and export_meta: as what
# they are, a description of the file).
MIF_READ = ("mif_version", "memories", "generator", "export_meta", "knowledge_graph", "vendor_extensions")
# A document is refused whole only past twice a memory's limit (``writer.MEMORY_MAX_DEPTH``):
# room for the export's own nesting (a memory sits at level 3), and for a memory too deep to be
# reported as that memory's error; the bound keeps everything that walks the body far from
# Python's recursion limit.
DOCUMENT_MAX_DEPTH = 2 * MEMORY_MAX_DEPTH
SUPPORTED_VERSION = re.compile(r"^2(\.[0-9A-Za-z-]+)*$")
EMPTY_BODY = "The body is empty: send a MIF v2 document, a mem0 export (JSON array) or MCP memory JSONL."


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    format: str
    dry_run: bool
    memories_imported: int = 0
    decisions_imported: int = 0
    products_imported: int = 0
    kernel_imported: bool = False
    duplicates_skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    errors_total: int = 0
    # Items imported in part (a decision whose ``supersedes`` link waits for its target).
    warnings: list[dict] = field(default_factory=list)
    # Paths of the document's parts that hold no memories and were not read (module docstring).
    not_imported: list[str] = field(default_factory=list)

    def error(self, index: int, given: str | None, message: str) -> None:
        self.errors_total += 1
        self.errors.append({"index": index, "id": given, "message": message})
        keep_reported(self.errors, key=_by_index)

    def warning(self, index: int, given: str | None, message: str) -> None:
        self.warnings.append({"index": index, "id": given, "message": message})
        keep_reported(self.warnings, key=_by_index)

    def count(self, outcome: str, kind: str) -> None:
        if outcome == DUPLICATE:
            self.duplicates_skipped += 1
        elif kind == KIND_PRODUCT:
            self.products_imported += 1
        elif kind == KIND_DECISION:
            self.decisions_imported += 1
        elif kind == KIND_KERNEL:
            self.kernel_imported = True


def _by_index(item: dict) -> int:
    return item["index"]


# -- reading the body ------------------------------------------------------------------------------
def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _mif_candidates(doc, *, now) -> tuple[Iterable[Candidate], list[str]]:
    """The document's memories and graph, and the paths of its parts not imported."""
    if not isinstance(doc, dict):
        raise errors.ValidationFailed(
            f"A MIF document is a JSON object with mif_version and memories, not a JSON {_json_type(doc)}."
        )
    version = doc.get("mif_version")
    if version is None:
        raise errors.ValidationFailed.for_fields(
            {"mif_version": 'This field is required ("2.0").'}, "Not a MIF v2 document: 'mif_version' is missing."
        )
    if not isinstance(version, str) or not SUPPORTED_VERSION.fullmatch(version):
        raise errors.ValidationFailed.for_fields(
            {"mif_version": "Only MIF 2.x is supported."},
            f"Unsupported mif_version {version!r}: this service reads MIF 2.x documents.",
        )
    if "memories" not in doc:
        raise errors.ValidationFailed.for_fields(
            {"memories": "This field is required."}, "Not a MIF v2 document: 'memories' is missing."
        )
    memories = doc["memories"]
    if not isinstance(memories, list):
        raise errors.ValidationFailed.for_fields(
            {"memories": f"Must be an array of memory objects, not a JSON {_json_type(memories)}."},
            "'memories' must be an array.",
        )
    # Made one at a time as the import reads them, not all held at once: 25 MiB hold millions of items.
    candidates = (
        Candidate(index, given_id(memory), memory=memory)
        if isinstance(memory, dict)
        else Candidate(index, None, error="Each memory must be a JSON object.")
        for index, memory in enumerate(memories)
    )
    generator = doc.get("generator")
    agent = generator.get("name") if isinstance(generator, dict) else None
    graph, graph_unread = knowledge_graph_candidates(
        doc.get("knowledge_graph"),
        start=len(memories),
        now=now,
        agent=agent if isinstance(agent, str) and agent.strip() else UNKNOWN_AGENT,
    )
    unread = []
    for key, value in doc.items():
        if key == "knowledge_graph":
            unread += graph_unread
        elif key == "vendor_extensions":
            if isinstance(value, dict):
                unread += [f"vendor_extensions.{name}" for name in value if name != VENDOR]
            elif value is not None:
                unread.append(key)
        elif key not in MIF_READ:
            unread.append(key)
    return chain(candidates, graph), unread


def _json_type(value) -> str:
    for kind, name in ((dict, "object"), (list, "array"), (str, "string"), (bool, "boolean"), (int | float, "number")):
        if isinstance(value, kind):
            return name
    return "null"


def _detect(doc) -> str:
    if isinstance(doc, list):
        items = [item for item in doc if isinstance(item, dict)]
        if items and not any("memory" in item for item in items) and any("content" in item for item in items):
            raise errors.ValidationFailed(
                "A JSON array is read as a mem0 export (items with 'memory'). To import MIF memories, "
                'wrap them in a document: {"mif_version": "2.0", "memories": [...]}.'
            )
        return "mem0"
    if isinstance(doc, dict) and "mif_version" not in doc and "memories" not in doc:
        if doc.get("type") in ("entity", "relation"):
            return "mcp-jsonl"  # a one-line JSONL file
        if isinstance(doc.get("results"), list):
            return "mem0"
    return "mif"


def read_document(text: str, fmt: str = "auto", *, now=None) -> tuple[str, Iterable[Candidate], list[str]]:
    """The body's format, its items and the paths of its parts not imported; raises
    VALIDATION_ERROR for document-level problems."""
    now = now or timezone.now()
    body = text.lstrip("\ufeff")
    if not body.strip():
        raise errors.ValidationFailed(EMPTY_BODY)
    if fmt == "mcp-jsonl":
        return fmt, mcp_candidates(body, now=now), []
    try:
        # A repeated key refuses the whole document, as every JSON body is refused (README "Hostile
        # input"): Python would keep the last value, so a second "memories" emptied the import.
        doc = json.loads(body, parse_constant=_reject_constant, parse_float=marked_float, object_pairs_hook=unique_keys)
    except RecursionError:
        raise errors.ValidationFailed("The body is not usable JSON: it is nested too deeply.") from None
    except ValueError as exc:
        if fmt == "auto" and looks_like_jsonl(body):
            return "mcp-jsonl", mcp_candidates(body, now=now), []
        if isinstance(exc, JsonRefused):
            raise errors.ValidationFailed(f"The body is not usable JSON: {exc}.") from None
        raise errors.ValidationFailed(f"The body is not valid JSON ({exc}).") from None
    if depth_exceeds(doc, DOCUMENT_MAX_DEPTH):
        raise errors.ValidationFailed(
            f"The body is not usable JSON: it nests more than {DOCUMENT_MAX_DEPTH} levels deep."
        )
    if fmt == "auto":
        fmt = _detect(doc)
    if fmt == "mcp-jsonl":
        return fmt, mcp_candidates(body, now=now), []
    if fmt == "mem0":
        items = doc.get("results") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise errors.ValidationFailed(
                'A mem0 export is a JSON array of memories (or an object with a "results" array).'
            )
        candidates, unread = mem0_candidates(items, now=now), []
        for key, value in doc.items() if isinstance(doc, dict) else ():
            if key == "relations":
                if isinstance(value, list):
                    candidates += mem0_relation_candidates(value, start=len(items), now=now)
                elif value is not None:
                    unread.append(key)
            elif key != "results":
                unread.append(key)
        return fmt, candidates, unread
    candidates, unread = _mif_candidates(doc, now=now)
    return "mif", candidates, unread


# -- importing -------------------------------------------------------------------------------------
def _shown(path: str) -> str:
    """A path as the report can carry it (a key may be long, or hold a lone UTF-16 surrogate)."""
    return LONE_SURROGATE.sub("\ufffd", path[:255])


def _synchronex(memory: dict) -> dict | None:
    extensions = memory.get("vendor_extensions")
    ours = extensions.get(VENDOR) if isinstance(extensions, dict) else None
    return ours if isinstance(ours, dict) else None


def _restore_decisions(space, items, report: ImportReport) -> None:
    """Decisions in dependency order: one that supersedes another comes after it.

    One whose ``supersedes`` target is neither in the document nor in the space is imported
    without the link, with a warning; it remembers the target's id, and the link is made when
    that decision arrives (``restore_decisions._links``, which also follows an arriving
    decision's ``superseded_by``). They are written in chunks (``decisions_restore``).
    """
    records = {}
    with decisions_checking([data for _, _, data, _ in items]) as decision_check:
        for index, given, data, embeddings in items:
            try:
                record = decision_check(data, embeddings)
            except RestoreError as exc:
                report.error(index, given, str(exc))
                continue
            if record.original in records:
                report.duplicates_skipped += 1
                continue
            records[record.original] = (index, given, record)
    waiting: dict = {}
    ready: deque = deque()
    for original, (_, _, record) in records.items():
        if record.supersedes in records and record.supersedes != original:
            waiting.setdefault(record.supersedes, []).append(original)
        else:
            ready.append(original)
    order = []
    while ready:
        original = ready.popleft()
        order.append(original)
        ready.extend(waiting.pop(original, []))
    restored = decisions_restore(space=space, records=[records[original][2] for original in order]) if order else []
    for original, result in zip(order, restored, strict=True):
        index, given, _ = records[original]
        if result.error is not None:
            report.error(index, given, result.error)
            continue
        report.count(result.outcome, KIND_DECISION)
        for message in result.warnings:
            report.warning(index, given, message)
    for original in records.keys() - set(order):
        index, given, _ = records[original]
        report.error(index, given, "Its 'supersedes' chain forms a cycle; it was not imported.")


def _restore_records(space, groups: dict, report: ImportReport, *, actor: str, actor_user) -> None:
    """Product states, then decisions, then the kernel: each restored and written, once the product
    names an earlier release stored otherwise are mapped (``legacy_names``).

    A dry run runs this too, inside a transaction it rolls back (``mif_import``), rather than
    skipping the writes: the checks that decide a record's fate read what the records before it
    wrote (product names within the document, "ATLAS Ω" after "Atlas Ω"; a second kernel; two
    decisions superseding one; ids taken; links waiting for a decision), so a dry run that did not
    write answered differently than the real run, and mirroring every rule in memory would keep
    two copies of them. This is safe because restoring has no effect outside the database: it
    enqueues no task (``mif_import`` enqueues the embedding task only for a real run, and Django
    drops the on-commit callbacks of a rolled-back block), records no cost and writes no cache.
    """
    legacy_names_map(space=space, groups=groups, report=report)
    for index, given, data in groups[KIND_PRODUCT]:
        try:
            report.count(product_restore(space=space, data=data), KIND_PRODUCT)
        except RestoreError as exc:
            report.error(index, given, str(exc))
    _restore_decisions(space, groups[KIND_DECISION], report)
    for index, given, data in groups[KIND_KERNEL]:
        try:
            report.count(kernel_restore(space=space, data=data, actor=actor, actor_user=actor_user), KIND_KERNEL)
        except RestoreError as exc:
            report.error(index, given, str(exc))


def _record_ids(space, items) -> set[uuid.UUID]:
    """The ids of these generic memories that already name a decision, product state or kernel
    of ``space`` (its own id or the id it was restored from, as ``ids_in_space`` finds them).

    A tool that keeps only MIF's own fields drops ``vendor_extensions``, and such a record comes
    back as a plain memory under its id: it is that record again (a duplicate), not a second,
    generic copy under the same id. Asked after the records are restored, in the dry run's
    transaction too, so a record and a plain copy of it in one document meet as well.
    """
    ids = {uuid.UUID(value) for _, _, raw in items if (value := canonical_uuid(raw.get("id")))}
    taken: set[uuid.UUID] = set()
    for model, kind in ((Decision, "decision"), (ProductState, "product"), (Kernel, "kernel")):
        taken.update(ids_in_space(model, space=space, originals=ids, kind=kind))
    return taken


def mif_import(
    *,
    space,
    text: str,
    fmt: str = "auto",
    dry_run: bool = False,
    decisions_allowed: bool = True,
    actor: str = "mif-import",
    actor_user=None,
) -> ImportReport:
    """Import a document into ``space`` (see the module docstring); returns the report."""
    fmt, candidates, unread = read_document(text, fmt)
    report = ImportReport(format=fmt, dry_run=dry_run, not_imported=[_shown(path) for path in unread])
    del report.not_imported[MAX_REPORTED_ERRORS:]
    groups: dict[str, list] = {KIND_PRODUCT: [], KIND_DECISION: [], KIND_KERNEL: [], KIND_MEMORY: []}
    for candidate in candidates:
        if candidate.error is not None:
            report.error(candidate.index, candidate.id, candidate.error)
            continue
        ours = _synchronex(candidate.memory)
        kind = ours.get("kind") if ours else None
        if kind in (KIND_PRODUCT, KIND_DECISION, KIND_KERNEL):
            if not isinstance(ours.get("data"), dict):
                report.error(candidate.index, candidate.id, "vendor_extensions.synchronex.data must be an object.")
            elif problem := unstorable(ours["data"]):
                report.error(candidate.index, candidate.id, f"vendor_extensions.synchronex.data: {problem}")
            elif kind == KIND_DECISION and not decisions_allowed:
                report.error(candidate.index, candidate.id, "Importing decisions needs the decisions:write scope.")
            elif kind == KIND_DECISION:
                # The vector sits on the memory (MIF's ``embeddings``), not in our extension.
                embeddings = candidate.memory.get("embeddings")
                groups[kind].append((candidate.index, candidate.id, ours["data"], embeddings))
            else:
                groups[kind].append((candidate.index, candidate.id, ours["data"]))
        elif kind in (None, KIND_MEMORY):
            raw = from_compatible(candidate.memory, restore=ours.get("restore") if ours else None)
            groups[KIND_MEMORY].append((candidate.index, candidate.id, raw))
        else:
            report.error(candidate.index, candidate.id, f"Unknown vendor_extensions.synchronex.kind {kind!r}.")

    if dry_run:
        with transaction.atomic():  # a savepoint when the caller holds a transaction
            _restore_records(space, groups, report, actor=actor, actor_user=actor_user)
            records = _record_ids(space, groups[KIND_MEMORY])
            transaction.set_rollback(True)
    else:
        _restore_records(space, groups, report, actor=actor, actor_user=actor_user)
        records = _record_ids(space, groups[KIND_MEMORY])
    written = memories_write(space=space, items=groups[KIND_MEMORY], dry_run=dry_run, taken=records)
    report.memories_imported += written.imported
    report.duplicates_skipped += written.duplicates
    for index, given, message in written.errors:
        report.error(index, given, message)
    report.errors_total += written.errors_total - len(written.errors)  # those the writer did not keep

    cut_reported(report.errors, key=_by_index)
    cut_reported(report.warnings, key=_by_index)
    if not dry_run and (report.memories_imported or report.decisions_imported):
        embed_pending_on_commit(space=space)
    return report
