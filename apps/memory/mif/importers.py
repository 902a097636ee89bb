"""MIF import (SPEC §8): read the body in one of three formats, then restore or store each item.

Formats (``format=auto`` detects them from the body):

- ``mif``: a MIF v2 document ``{"mif_version": "2.x", "memories": [...]}``;
- ``mem0``: a mem0 export, a JSON array of ``{id, memory, …}`` (or ``{"results": [...]}``);
- ``mcp-jsonl``: the MCP memory server's JSONL, one ``{"type": "entity"|"relation", …}`` per line.

Problems with the document as a whole (empty, not JSON, no ``memories``, a ``mif_version``
other than 2.x, ``memories`` not an array) are a VALIDATION_ERROR and nothing is written.
Problems with one item never stop the others: they are reported as ``{index, id, message}``.
That includes values PostgreSQL cannot hold (NUL, a lone UTF-16 surrogate, a number beyond a
double such as ``1e400``): the body is parsed here rather than by the API's JSON parser, which
refuses such a body whole, so that one such memory costs only itself.

Items carrying ``vendor_extensions.synchronex`` data of a decision, product state or kernel are
restored as such (``restore``); every other item is a generic memory (``writer``), stored as
given, with this service's own extension removed and its restore patch applied (``compat``).
Order: product states, decisions (superseded ones before their successors), the kernel, then
generic memories. Re-importing a document changes nothing: each item is found again by id (and
generic memories also by content).
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field

from django.utils import timezone

from apps.memory.mif.common import (
    KIND_DECISION,
    KIND_KERNEL,
    KIND_MEMORY,
    KIND_PRODUCT,
    VENDOR,
    Candidate,
    given_id,
)
from apps.memory.mif.compat import from_compatible
from apps.memory.mif.mcp_jsonl import looks_like_jsonl, mcp_candidates
from apps.memory.mif.mem0 import mem0_candidates
from apps.memory.mif.restore import (
    DUPLICATE,
    RestoreError,
    decision_check,
    decision_existing,
    decision_restore,
    kernel_restore,
    product_restore,
)
from apps.memory.mif.writer import memories_write
from apps.memory.services import unstorable
from apps.memory.tasks import embed_pending_on_commit
from synchronex.api import errors
from synchronex.api.parsers import MAX_DEPTH, depth_exceeds

FORMATS = ("auto", "mif", "mem0", "mcp-jsonl")
MAX_REPORTED_ERRORS = 1_000
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

    def error(self, index: int, given: str | None, message: str) -> None:
        self.errors_total += 1
        self.errors.append({"index": index, "id": given, "message": message})

    def count(self, outcome: str, kind: str) -> None:
        if outcome == DUPLICATE:
            self.duplicates_skipped += 1
        elif kind == KIND_PRODUCT:
            self.products_imported += 1
        elif kind == KIND_DECISION:
            self.decisions_imported += 1
        elif kind == KIND_KERNEL:
            self.kernel_imported = True


# -- reading the body ------------------------------------------------------------------------------
def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _mif_candidates(doc) -> list[Candidate]:
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
    return [
        Candidate(index, given_id(memory), memory=memory)
        if isinstance(memory, dict)
        else Candidate(index, None, error="Each memory must be a JSON object.")
        for index, memory in enumerate(memories)
    ]


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


def read_document(text: str, fmt: str = "auto", *, now=None) -> tuple[str, list[Candidate]]:
    """The body's format and its items; raises VALIDATION_ERROR for document-level problems."""
    now = now or timezone.now()
    body = text.lstrip("\ufeff")
    if not body.strip():
        raise errors.ValidationFailed(EMPTY_BODY)
    if fmt == "mcp-jsonl":
        return fmt, mcp_candidates(body, now=now)
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise errors.ValidationFailed("The body is not usable JSON: it is nested too deeply.") from None
    except ValueError as exc:
        if fmt == "auto" and looks_like_jsonl(body):
            return "mcp-jsonl", mcp_candidates(body, now=now)
        raise errors.ValidationFailed(f"The body is not valid JSON ({exc}).") from None
    if depth_exceeds(doc, MAX_DEPTH):
        raise errors.ValidationFailed(f"The body is not usable JSON: it nests more than {MAX_DEPTH} levels deep.")
    if fmt == "auto":
        fmt = _detect(doc)
    if fmt == "mcp-jsonl":
        return fmt, mcp_candidates(body, now=now)
    if fmt == "mem0":
        items = doc.get("results") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise errors.ValidationFailed(
                'A mem0 export is a JSON array of memories (or an object with a "results" array).'
            )
        return fmt, mem0_candidates(items, now=now)
    return "mif", _mif_candidates(doc)


# -- importing -------------------------------------------------------------------------------------
def _synchronex(memory: dict) -> dict | None:
    extensions = memory.get("vendor_extensions")
    ours = extensions.get(VENDOR) if isinstance(extensions, dict) else None
    return ours if isinstance(ours, dict) else None


def _restore_decisions(space, items, report: ImportReport, *, dry_run: bool) -> None:
    """Decisions in dependency order: one that supersedes another comes after it."""
    records = {}
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
    placed: dict = {}  # original id → id in this space
    done = set()
    while ready:
        original = ready.popleft()
        done.add(original)
        index, given, record = records[original]
        target = None
        if record.supersedes is not None:
            target = placed.get(record.supersedes) or decision_existing(space=space, original=record.supersedes)
        try:
            report.count(
                decision_restore(space=space, record=record, supersedes_id=target, dry_run=dry_run), KIND_DECISION
            )
            placed[original] = decision_existing(space=space, original=original) or original
        except RestoreError as exc:
            report.error(index, given, str(exc))
        ready.extend(waiting.pop(original, []))
    for original in records.keys() - done:
        index, given, _ = records[original]
        report.error(index, given, "Its 'supersedes' chain forms a cycle; it was not imported.")


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
    fmt, candidates = read_document(text, fmt)
    report = ImportReport(format=fmt, dry_run=dry_run)
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

    for index, given, data in groups[KIND_PRODUCT]:
        try:
            report.count(product_restore(space=space, data=data, dry_run=dry_run), KIND_PRODUCT)
        except RestoreError as exc:
            report.error(index, given, str(exc))
    _restore_decisions(space, groups[KIND_DECISION], report, dry_run=dry_run)
    for index, given, data in groups[KIND_KERNEL]:
        try:
            report.count(
                kernel_restore(space=space, data=data, dry_run=dry_run, actor=actor, actor_user=actor_user),
                KIND_KERNEL,
            )
        except RestoreError as exc:
            report.error(index, given, str(exc))
    written = memories_write(space=space, items=groups[KIND_MEMORY], dry_run=dry_run)
    report.memories_imported += written.imported
    report.duplicates_skipped += written.duplicates
    for index, given, message in written.errors:
        report.error(index, given, message)

    report.errors.sort(key=lambda error: error["index"])
    del report.errors[MAX_REPORTED_ERRORS:]
    if not dry_run and (report.memories_imported or report.decisions_imported):
        embed_pending_on_commit(space=space)
    return report
