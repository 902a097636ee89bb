"""The MIF v2 export of a space, streamed (SPEC §8).

``mif_memories(options)`` yields ``(kind, memory)`` pairs in a fixed order — the kernel layer,
product states, decisions, generic memories — reading each table through a server-side cursor
(``.iterator(chunk_size=…)``), so memory use stays flat however large the space.
``mif_json_stream(options)`` writes them as one MIF document:

- every memory in canonical JSON, RFC 8785's JSON Canonicalization Scheme (``common.canonical``);
- ``export_meta.checksum`` = ``"sha256:" + SHA-256 of the canonical text of the memories array``
  — exactly the bytes between ``"memories":`` and the next ``,"vendor_extensions"`` — so a
  reader verifies it with any JCS library, in any language (Python: ``hashlib.sha256(
  rfc8785.dumps(doc["memories"])).hexdigest()``). It covers every memory and its
  ``vendor_extensions.synchronex`` data; not the document header or ``export_meta``;
- ``export_meta`` and the document-level ``vendor_extensions.synchronex`` come last, when the
  counts, the checksum and the privacy findings are known (JSON objects are unordered).

The full structured data of each row sits in that memory's ``vendor_extensions.synchronex``
(``{"kind", "data"}``; ``{"kind": "memory", "restore"}`` for generic memories), so it travels
with the memory through tools that filter or reorder memories. BYOK secrets are never read into
an export: the credentials table is not exported, and any secret of the space (in a workspace,
every current member's personal ones too) that occurs in what users wrote (say, pasted into a
decision), in any letter case, is replaced by ``[REDACTED:api_key]``, or ``[SECRET]`` when shorter
(``Scrubber``). It is replaced in the values users wrote, before anything is laid out or rendered
(``mif_memories``), never in the document's own text: a key may be any 8 visible characters, and
one spelling JSON syntax, a word of the layout ("decision") or part of an id rewrote the document
or broke its import.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.crypto import salted_hmac
from rest_framework import serializers

from apps.byok.fields import decrypt, decrypt_or_none
from apps.byok.models import ByokCredential
from apps.decisions.merges import MERGED_FIELDS
from apps.decisions.models import Decision
from apps.identity.api.serializers import ProductSerializer
from apps.identity.layers import CONSTRAINT_KEYS, IDENTITY_FIELDS, MODEL_PREFERENCE_KEYS, PRODUCT_FIELDS, SECTIONS
from apps.identity.models import Kernel
from apps.identity.renderer import render_block
from apps.memory.mif.common import (
    EXTENSION_FORMAT,
    KIND_DECISION,
    KIND_KERNEL,
    KIND_MEMORY,
    KIND_PRODUCT,
    MIF_VERSION,
    TAG_IDENTITY_KERNEL,
    TAG_PRODUCT_STATE,
    VENDOR,
    canonical,
    generator,
    iso_z,
)
from apps.memory.mif.compat import to_compatible
from apps.memory.models import Memory
from apps.products.models import NAME_MAX, ProductState
from apps.scopes.models import Membership, Space
from synchronex.api.rows import fetch_all

CHUNK_ROWS = 1_000  # rows per server-side cursor fetch
# Generic memories are read fewer at a time: one may hold 100,000 characters of content, and its
# ``raw`` carries the content again with whatever else the document held, so a fetch of CHUNK_ROWS
# could hold hundreds of megabytes. 100 keeps a fetch's memory bounded at the cost of a round trip
# per 100 rows (milliseconds over 100,000 memories).
MEMORY_CHUNK_ROWS = 100
FLUSH_BYTES = 64 * 1024  # bytes per streamed chunk
# The kernel memory's content is the full rendering (no 500-token ceiling: nothing is dropped).
FULL_RENDER_TOKENS = 1_000_000
REDACTED = "[REDACTED:api_key]"
# What replaces a key shorter than ``REDACTED`` (an openai_compatible key may have 8 characters,
# ``SECRET_MIN``): so a redacted text is never longer than the text written, every text of an
# export still fits the limit the API wrote it under, and the export imports again (SPEC §8).
# The other ways out were worse: the import tolerating the growth stores texts over their limits
# (the tag and name columns refuse them), truncating loses text no key was in, and requiring
# longer keys refuses the short tokens self-hosted servers are set up with and leaves the keys
# already stored. Not a marker as long as the key, which would tell its length.
REDACTED_SHORT = "[SECRET]"
# Tried only where a run of the local part's characters starts, and neither part given back: a
# search from every position of a long run without an address was quadratic (40,000 letters and
# an "@" took 1.9 s, on every AI-facing answer that holds them).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)*\.[A-Za-z]{2,}")
SOURCE = {"source_type": "synchronex", "agent": "synchronex", "agent_name": "synchronex"}
CHECKSUM_COVERS = (
    "memories (SHA-256 of its UTF-8 canonical JSON per RFC 8785, the JSON Canonicalization Scheme: keys "
    "sorted by UTF-16 code units, no whitespace, numbers as ECMAScript writes them)"
)


@dataclass(frozen=True)
class ExportOptions:
    """What to export: the space, which types, since when, with or without vectors."""

    space: Space
    scope: str
    user_id: str
    types: tuple[str, ...]
    since: datetime | None = None
    include_embeddings: bool = False
    decisions_allowed: bool = True


def changed_since(since: datetime, *, stored: bool = True) -> Q:
    """The rows ``since=`` keeps: made, changed or written here since that moment.

    A MIF import keeps the record's own ``created_at`` and ``updated_at``, so a row it wrote here
    today may carry a 2020 timestamp; ``stored_at`` is when it was written here (memories, product
    states, the kernel layer). A decision needs no such stamp: its ``updated_at`` is set here by
    every write, an import's too, and never taken from the document.
    """
    condition = Q(created_at__gte=since) | Q(updated_at__gte=since)
    return condition | Q(stored_at__gte=since) if stored else condition


def _embeddings(row, redact: Callable[[str], str]) -> dict | None:
    if row.embedding is None:
        return None
    vector = [float(x) for x in row.embedding]
    norm = math.sqrt(sum(x * x for x in vector))
    return {
        "model": redact(row.embedding_model),
        "dimensions": len(vector),
        "vector": vector,
        "normalized": abs(norm - 1.0) < 1e-3,
    }


def exported_id(row) -> str:
    """The id a decision, product state or kernel row is exported under: the id it was imported
    with (``origin_id``, set on every restored row), else its own. A re-export of an imported
    document therefore names every memory and reference as the document did."""
    return str(row.origin_id or row.id)


def _extension(kind: str, data: dict) -> dict:
    return {VENDOR: {"kind": kind, "data": data}}


def _product_entity(name: str) -> dict:
    return {"name": name, "entity_type": "product", "confidence": 1.0}


# -- what users wrote, redacted ----------------------------------------------------------------------
# Only the values users wrote go through the redaction (``mif_memories``); what the export writes
# itself — the layout's keys, ids, timestamps, versions, kinds, memory types, statuses, an IANA
# time zone the API checked — comes through as it is, or a key spelling "decision", "America/" or
# part of an id would rewrite the document (and an import would refuse what it rewrote).
# Apart (``product_name_redacted``): a product's name, wherever the export writes one.
PRODUCT_TEXTS = (
    "what_works",
    "what_is_blocked",
    "open_questions",
    "next_session_starts_here",
    "last_session_summary",
    "kernel_summary",
    "kernel_url",
)
# Tags apart (``tags_redacted``): a tag is stored lowercased, and the marker in one must be too.
DECISION_TEXTS = ("decision", "reasoning", "affects_products", "alternatives", "source")
# A generic memory is all its writer's, but for the id, timestamps, version and vector the import
# checked (the export writes its own id and timestamps; the patch restores the originals).
# Its ``memory_type`` is not redacted either (README): a key spelling "preference" lost the type.
_RAW_CHECKED = ("id", "memory_type", "created_at", "updated_at", "version", "embeddings")


_NAME_SALT = "synchronex.mif.export.product_name"


def product_name_redacted(name: str, redact: Callable[[str], str]) -> str:
    """A product name as exported: as stored, or, when it held a key, redacted with a suffix of
    its own (`` (1a2b3c4d)``), so two names that differ only in their keys, or one that redacts to
    another product's name, stay two products on import, not one dropped as a duplicate. The
    suffix is Django's ``salted_hmac`` of the name as the database compares names (lowercased),
    keyed by the server's ``SECRET_KEY``: the same in the kernel, the product state and every
    decision naming it, and in every export, yet it tells nothing of the key to whoever does not
    hold ``SECRET_KEY``."""
    redacted = redact(name)
    if redacted == name:
        return name
    digest = salted_hmac(_NAME_SALT, name.lower(), algorithm="sha256").hexdigest()[:8]
    suffix = f" ({digest})"
    return redacted[: NAME_MAX - len(suffix)].rstrip() + suffix


def _names_redacted(names: list[str] | None, redact: Callable[[str], str]) -> list[str] | None:
    return names if not names or redact is _unchanged else [product_name_redacted(n, redact) for n in names]


def _row_redacted(row, fields: tuple[str, ...], redact: Callable[[str], str]) -> None:
    """Redact these text, list and JSON fields of ``row``, a model instance this export alone read."""
    if redact is _unchanged:
        return
    for name in fields:
        setattr(row, name, scrub_json(getattr(row, name), redact))


def tags_redacted(tags: list[str], redact: Callable[[str], str]) -> list[str]:
    """A decision's tags redacted as a tag is stored (``TagField``: lowercased, each once), so the
    import stores the tags the export wrote and exporting again gives the same document: a tag that
    held a key has its marker lowercased (``[redacted:api_key]``), and two that became the same tag
    are one. Tags without a key are as stored."""
    clean = [tag if (redacted := redact(tag)) == tag else redacted.lower() for tag in tags]
    return list(dict.fromkeys(clean)) if clean != tags else tags


def merge_base_redacted(base: dict | None, redact: Callable[[str], str]) -> dict | None:
    """A survivor's own values (``Decision.merge_base``) as exported: its merged fields, redacted as
    the decision's are. Not their ``affects_keys``, which the import makes again from
    ``affects_products`` (the database's lowercasing, as the decision's own column)."""
    if base is None:
        return None
    own = scrub_json({name: base[name] for name in MERGED_FIELDS}, redact)
    if "affects_products" in own:
        own["affects_products"] = _names_redacted(base["affects_products"], redact)
    return {**own, "tags": tags_redacted(base["tags"], redact)}


# Both URLs a product has (a kernel entry's ``url``, a product state's ``kernel_url``) are checked
# by this field on import (``restore.KernelEntrySerializer``, ``PUT /memory/identity``).
_URL = ProductSerializer._declared_fields["url"]


def url_importable(written: str | None, redacted: str | None) -> str | None:
    """``redacted`` (the URL ``written``, redacted), or None when redaction left a URL the import
    refuses — a key in its host or user part (``https://[REDACTED:api_key].example/``) — so the
    record that holds it still imports, without that URL. In its path or query the marker is kept."""
    if redacted == written or not redacted:
        return redacted
    try:
        _URL.run_validation(redacted)
    except serializers.ValidationError:
        return None
    return redacted


def _kernel_urls_importable(written: dict, sections: dict) -> dict:
    """``sections`` (the kernel's ``written`` sections, redacted) without each product ``url``
    that redaction left one the import refuses (``url_importable``), as a stored entry has no
    empty field."""
    products = sections.get("products")
    if not products or products is written.get("products"):
        return sections
    kept = []
    for before, entry in zip(written["products"], products, strict=True):
        if "url" in entry and url_importable(before.get("url"), entry["url"]) is None:
            entry = {key: value for key, value in entry.items() if key != "url"}
        kept.append(entry)
    return {**sections, "products": kept}


def kernel_sections_redacted(sections: dict, redact: Callable[[str], str]) -> dict:
    """The kernel's sections with ``redact`` applied to what users wrote: not to the section and
    field names (``scrub_json``) nor to the time zone, an IANA name the API checked."""
    clean = scrub_json(sections, redact)
    zone = (sections.get("identity") or {}).get("timezone")
    if zone is not None and clean is not sections:
        clean["identity"] = {**clean["identity"], "timezone": zone}
    return clean


def _kernel_names_redacted(written: dict, sections: dict, redact: Callable[[str], str]) -> dict:
    """``sections`` (the kernel's ``written`` sections, redacted) with each product's name as the
    export writes it (``product_name_redacted``), as its product state and decisions name it."""
    products = sections.get("products")
    if not products or products is written.get("products"):
        return sections
    named = [
        {**entry, "name": product_name_redacted(before["name"], redact)} if "name" in entry else entry
        for before, entry in zip(written["products"], products, strict=True)
    ]
    return {**sections, "products": named}


def _raw_redacted(raw: dict, redact: Callable[[str], str]) -> dict:
    """A generic memory's stored ``raw`` with ``redact`` applied to everything but its checked
    fields (``_RAW_CHECKED``), before the export's restore patch is made of it: the patch then
    restores the redacted values, as written."""
    if redact is _unchanged:
        return raw
    kept = {key: raw[key] for key in _RAW_CHECKED if key in raw}
    return {**scrub_json({key: value for key, value in raw.items() if key not in kept}, redact), **kept}


# -- the kernel layer ------------------------------------------------------------------------------
def kernel_data(kernel: Kernel, sections: dict) -> dict:
    return {
        "id": exported_id(kernel),
        **sections,
        "version": kernel.version,
        "created_at": iso_z(kernel.created_at),
        "updated_at": iso_z(kernel.updated_at),
    }


def _kernel_memory(kernel: Kernel, redact: Callable[[str], str]) -> dict:
    # Rendered from the redacted sections: the rendering escapes characters a key may hold (a
    # bold product name's "*"), so the key would not be found in the rendered text.
    written = kernel.sections()
    sections = _kernel_urls_importable(written, kernel_sections_redacted(written, redact))
    sections = _kernel_names_redacted(written, sections, redact)
    identity = sections["identity"] or {}
    entities = []
    if identity.get("name"):
        entities.append({"name": identity["name"], "entity_type": "person", "confidence": 1.0})
    if identity.get("company"):
        entities.append({"name": identity["company"], "entity_type": "organization", "confidence": 1.0})
    entities += [_product_entity(p["name"]) for p in sections["products"] or []]
    memory = {
        "id": exported_id(kernel),
        "content": render_block(sections, max_tokens=FULL_RENDER_TOKENS).text,
        "memory_type": "context",
        "created_at": iso_z(kernel.created_at),
        "tags": [TAG_IDENTITY_KERNEL],
        "entities": entities,
        "metadata": {"kernel_version": str(kernel.version)},
        "source": SOURCE,
        "version": max(kernel.version, 1),
        "vendor_extensions": _extension(KIND_KERNEL, kernel_data(kernel, sections)),
    }
    if kernel.updated_at is not None:
        memory["updated_at"] = iso_z(kernel.updated_at)
    return memory


def _kernel_memories(options: ExportOptions, redact: Callable[[str], str]) -> Iterator[dict]:
    kernel = Kernel.objects.filter(space=options.space).first()
    if kernel is None or not any(kernel.sections().values()):
        return
    if options.since and max(kernel.updated_at or kernel.created_at, kernel.stored_at) < options.since:
        return
    yield _kernel_memory(kernel, redact)


# -- product states --------------------------------------------------------------------------------
STATE_LISTS = (
    ("what_works", "What works"),
    ("what_is_blocked", "What is blocked"),
    ("open_questions", "Open questions"),
)


def product_data(product: ProductState) -> dict:
    return {
        "id": exported_id(product),
        "name": product.name,
        "status": product.status,
        "what_works": product.what_works,
        "what_is_blocked": product.what_is_blocked,
        "open_questions": product.open_questions,
        "next_session_starts_here": product.next_session_starts_here,
        "last_session_summary": product.last_session_summary,
        # Its kernel entry's, kept for when it returns to the kernel (consolidation, step 4).
        "kernel_summary": product.kernel_summary,
        "kernel_url": product.kernel_url,
        "version": product.version,
        "created_at": iso_z(product.created_at),
        "updated_at": iso_z(product.updated_at),
        "last_activity_at": iso_z(product.last_activity_at),
    }


def product_text(product: ProductState) -> str:
    lines = [f"Product {product.name}: {product.status}"]
    for field, title in STATE_LISTS:
        items = getattr(product, field) or []
        if items:
            lines.append(f"{title}:")
            lines += [f"- {item}" for item in items]
    if product.next_session_starts_here:
        lines.append(f"Next session starts here: {product.next_session_starts_here}")
    if product.last_session_summary:
        lines.append(f"Last session: {product.last_session_summary}")
    return "\n".join(lines)


def _product_memories(options: ExportOptions, redact: Callable[[str], str]) -> Iterator[dict]:
    rows = ProductState.objects.filter(space=options.space)
    if options.since:
        rows = rows.filter(changed_since(options.since))
    for product in rows.order_by("created_at", "id").iterator(chunk_size=CHUNK_ROWS):
        url = product.kernel_url
        _row_redacted(product, PRODUCT_TEXTS, redact)
        product.name = product_name_redacted(product.name, redact)
        product.kernel_url = url_importable(url, product.kernel_url) or ""
        yield {
            "id": exported_id(product),
            "content": product_text(product),
            "memory_type": "context",
            "created_at": iso_z(product.created_at),
            "updated_at": iso_z(product.updated_at),
            "tags": [TAG_PRODUCT_STATE],
            "entities": [_product_entity(product.name)],
            "metadata": {"product": product.name, "status": product.status, "state_version": str(product.version)},
            "source": SOURCE,
            "version": product.version,
            "vendor_extensions": _extension(KIND_PRODUCT, product_data(product)),
        }


# -- decisions -------------------------------------------------------------------------------------
def _id_or_none(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def decision_data(decision: Decision) -> dict:
    """The decision's structured data (``decision`` as ``_decision_memories`` reads it, with the
    exported ids of the decisions it references)."""
    return {
        "id": exported_id(decision),
        "decision": decision.decision,
        "product_name": decision.product.name,
        "reasoning": decision.reasoning,
        "tags": decision.tags,
        "affects_products": decision.affects_products,
        "alternatives": decision.alternatives,
        "supersedes": _id_or_none(decision.supersedes_ref),
        "superseded_by": _id_or_none(decision.superseded_by_ref),
        # The survivor consolidation merged it into: deleting that one deletes this copy too.
        "merged_into": _id_or_none(decision.merged_into_ref),
        # A survivor's own values (``merge_base_redacted``): deleting a copy after an import then
        # takes out of it what that copy gave, as here, not an estimate (``merges.merge_base_of``).
        "merge_base": decision.merge_base,
        "decided_at": iso_z(decision.decided_at),
        "created_at": iso_z(decision.created_at),
        "source": decision.source,
    }


def _decision_metadata(decision: Decision) -> dict:
    metadata = {"product": decision.product.name, "decided_at": iso_z(decision.decided_at), "origin": decision.source}
    if decision.reasoning:
        metadata["reasoning"] = decision.reasoning
    for field in ("affects_products", "alternatives"):
        if getattr(decision, field):
            metadata[field] = json.dumps(getattr(decision, field), ensure_ascii=False)
    if decision.supersedes_ref:
        metadata["supersedes"] = str(decision.supersedes_ref)
    if decision.superseded_by_ref:
        metadata["superseded_by"] = str(decision.superseded_by_ref)
    return metadata


def _decision_memories(options: ExportOptions, redact: Callable[[str], str]) -> Iterator[dict]:
    rows = (
        Decision.objects.filter(space=options.space)
        .select_related("product")
        .defer("search_document")
        # The related decisions as exported (their own ``exported_id``), in the same query; a
        # decision whose predecessor (or merge survivor) has not been imported yet names it by the
        # id it awaits.
        .annotate(
            supersedes_ref=Coalesce("supersedes__origin_id", "supersedes_id", "supersedes_pending"),
            superseded_by_ref=Coalesce("superseded_by__origin_id", "superseded_by_id"),
            merged_into_ref=Coalesce("merged_into__origin_id", "merged_into_id", "merged_into_pending"),
        )
    )
    if not options.include_embeddings:
        rows = rows.defer("embedding")
    if options.since:
        # Changed since, not only made since: a merge changes its survivor and the links of the
        # decisions around it, a supersede or a delete's splice those of older decisions.
        rows = rows.filter(changed_since(options.since, stored=False))
    for decision in rows.order_by("created_at", "id").iterator(chunk_size=CHUNK_ROWS):
        affects = decision.affects_products
        _row_redacted(decision, DECISION_TEXTS, redact)
        decision.affects_products = _names_redacted(affects, redact)
        decision.tags = tags_redacted(decision.tags, redact)
        decision.merge_base = merge_base_redacted(decision.merge_base, redact)
        # This row's own instance (select_related).
        decision.product.name = product_name_redacted(decision.product.name, redact)
        content = decision.decision
        if decision.reasoning:
            content += f"\n\nReasoning: {decision.reasoning}"
        memory = {
            "id": exported_id(decision),
            "content": content,
            "memory_type": "decision",
            "created_at": iso_z(decision.created_at),
            "tags": decision.tags,
            "entities": [_product_entity(decision.product.name)]
            + [_product_entity(name) for name in decision.affects_products],
            "metadata": _decision_metadata(decision),
            "source": SOURCE,
            "vendor_extensions": _extension(KIND_DECISION, decision_data(decision)),
        }
        if options.include_embeddings and (embeddings := _embeddings(decision, redact)):
            memory["embeddings"] = embeddings
        yield memory


# -- generic memories ------------------------------------------------------------------------------
def _generic_memories(options: ExportOptions, redact: Callable[[str], str]) -> Iterator[dict]:
    fields = ["memory_id", "raw", "created_at", "updated_at"]
    if options.include_embeddings:
        fields += ["embedding", "embedding_model"]
    rows = Memory.objects.filter(space=options.space)
    if options.since:
        rows = rows.filter(changed_since(options.since))
    # Named tuples, not model instances: a third of the time per row at 100,000 rows.
    for row in rows.order_by("created_at", "memory_id").values_list(*fields, named=True).iterator(MEMORY_CHUNK_ROWS):
        embeddings = _embeddings(row, redact) if options.include_embeddings else None
        yield to_compatible(_raw_redacted(row.raw, redact), memory=row, embeddings=embeddings)


SOURCES = (
    ("identity", KIND_KERNEL, _kernel_memories),
    ("product", KIND_PRODUCT, _product_memories),
    ("decision", KIND_DECISION, _decision_memories),
    ("memory", KIND_MEMORY, _generic_memories),
)


def included_types(options: ExportOptions) -> list[str]:
    """The requested types this token may read (decisions need ``decisions:read``)."""
    return [t for t in options.types if t != "decision" or options.decisions_allowed]


def mif_memories(options: ExportOptions, *, scrub: Scrubber) -> Iterator[tuple[str, dict]]:
    """``(kind, memory)`` for every exported row, in the document's order, redacted.

    ``scrub``: the export's redaction, applied to the values users wrote as each memory is built
    (the section above), and to nothing else. Without a key to look for, nothing is walked."""
    redact = scrub if scrub.secrets else _unchanged
    wanted = set(included_types(options))
    for type_name, kind, source in SOURCES:
        if type_name in wanted:
            for memory in source(options, redact):
                yield kind, memory


# -- privacy ---------------------------------------------------------------------------------------
# Shorter secrets are not looked for: they would match ordinary words.
SECRET_MIN = 8


class Scrubber:
    """Replaces the space's BYOK secrets in a text value (never in serialised JSON: see the module
    docstring) and notes what it found.

    A secret is replaced by ``REDACTED``, or by ``REDACTED_SHORT`` when shorter than that, so a
    text never grows. It is matched in any letter case: a key pasted as a decision tag is stored
    lowercased (``TagField``), and that copy is as much the key. Each secret is looked for
    lowercased in the lowercased text, a plain substring search (a regular expression of the
    secrets, tried at every position, cost ten times as much on an answer of a space with 20 keys),
    and only a text that holds one goes through that secret's case-insensitive pattern.

    Every occurrence of every secret is found in the text as written, and the spans that overlap
    are replaced by one marker: replacing one secret after another left the end of a key
    that overlapped one replaced before it in clear text."""

    def __init__(self, secrets: list[str]):
        self.secrets = sorted({secret for secret in secrets if len(secret) >= SECRET_MIN}, key=len, reverse=True)
        self._patterns = {secret.lower(): re.compile(re.escape(secret), re.IGNORECASE) for secret in self.secrets}
        self.redacted: set[str] = set()
        self.email_seen = False

    def __call__(self, text: str) -> str:
        lowered = text.lower() if self._patterns else text
        spans = [
            match.span()
            for form, pattern in self._patterns.items()
            if form in lowered
            for match in pattern.finditer(text)
        ]
        if not spans:
            return text
        self.redacted.add("api_key")
        parts, end = [], 0
        for start, stop in _merged(spans):
            span = stop - start
            parts += [text[end:start], REDACTED if span >= len(REDACTED) else REDACTED_SHORT]
            end = stop
        return "".join(parts) + text[end:]

    def note(self, text: str) -> None:
        """Look for an email address in ``text`` (a memory as written) for ``privacy``."""
        if not self.email_seen and "@" in text and _EMAIL.search(text):
            self.email_seen = True

    def privacy(self) -> dict:
        return {"pii_detected": self.email_seen or bool(self.redacted), "redacted_fields": sorted(self.redacted)}


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` in order, those that overlap made one (two keys side by side stay two markers)."""
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


# Written out (synchronex/api/rows.py): the kernel export asks on every request, where the ORM's
# query compilation cost more than the statement.
_SECRETS_SQL = f"SELECT c.id, c.space_id, c.secret FROM {ByokCredential._meta.db_table} c WHERE c.space_id = %s"
# A workspace's: its own and the personal keys of each of its members (the owner is one).
_WORKSPACE_SECRETS_SQL = (
    f"{_SECRETS_SQL} OR c.space_id IN (SELECT s.id FROM {Space._meta.db_table} s "
    f"JOIN {Membership._meta.db_table} m ON m.user_id = s.owner_id "
    f"WHERE m.space_id = %s AND s.kind = '{Space.Kind.PERSONAL.value}')"
)


def space_secrets(space: Space) -> list[str]:
    """The plaintext BYOK keys redacted from what ``space`` hands out: only to find and redact
    them, never written out. A personal space's own keys; a workspace's own and every current
    member's personal keys, whoever reads: a member may paste their own key into the workspace,
    and what it hands out must not depend on the reader (its members' keys are its secrets,
    as on the admin's pages, ``synchronex/admin_redaction.py``). One statement either way.

    A key of ``space`` itself that cannot be decrypted fails the read (``DecryptionFailed``): its
    text could hold it unredacted. A member's personal key that cannot be decrypted is left out,
    with a warning naming it: else one member's broken key failed every member's reads (README,
    "AI costs and BYOK")."""
    if space.kind == Space.Kind.PERSONAL:
        rows = fetch_all(_SECRETS_SQL, [space.pk])
    else:
        rows = fetch_all(_WORKSPACE_SECRETS_SQL, [space.pk, space.pk])
    secrets = [
        decrypt(token) if owner == space.pk else decrypt_or_none(token, credential_id=credential_id)
        for credential_id, owner, token in rows
    ]
    return [secret for secret in secrets if secret is not None]


def _unchanged(text: str) -> str:
    return text


def redacts(scrub: Callable[[str], str]) -> bool:
    """Whether ``scrub`` may change a text: not ``reader_scrubber``'s for a space without keys, so
    a caller walking an answer for it can skip the walk (most spaces)."""
    return scrub is not _unchanged


def export_scrubber(space: Space) -> Scrubber:
    """A ``Scrubber`` of ``space_secrets``: in a workspace every member's personal keys too (the
    effective kernel carries the reader's personal layer, and a member may paste their own key
    anywhere). The MIF exports (JSON and Markdown, REST and MCP) redact with it, so the checksum
    and the privacy findings are those of the document as sent. One statement."""
    return Scrubber(space_secrets(space))


def reader_scrubber(space: Space) -> Callable[[str], str]:
    """The redaction of what is handed to an AI from ``space`` (the kernel export, every MCP tool
    answer, the identity read's injection block): ``export_scrubber``'s keys; without any (most
    spaces) the text is handed back as it is."""
    scrubber = export_scrubber(space)
    return scrubber if scrubber.secrets else _unchanged


# Names the formats define — MIF v2's memory, entity, source and embeddings fields, this export's
# extension and data, the kernel's sections and their fields — are the layout's text, never a
# user's: ``scrub_json`` does not rewrite them as keys (a key "products" renamed the kernel's
# products section, "metadata" moved a memory's metadata).
FORMAT_KEYS = frozenset(
    (
        *("id", "content", "memory_type", "created_at", "updated_at", "tags", "entities", "metadata", "source"),
        *("embeddings", "version", "vendor_extensions", "parent_id", "related_memory_ids", "agent_id"),
        *("external_id", "name", "entity_type", "confidence", "source_type", "session_id", "agent", "agent_name"),
        *("model", "dimensions", "vector", "normalized", VENDOR, "kind", "data", "restore", "original", "added"),
        *("written", "status", "product", "product_name", "last_activity_at", "decided_at", "origin"),
        *("supersedes", "superseded_by", "merged_into", "merge_base", "kernel_version", "state_version"),
        *PRODUCT_TEXTS,
        *DECISION_TEXTS,
        *SECTIONS,
        *IDENTITY_FIELDS,
        *PRODUCT_FIELDS,
        *CONSTRAINT_KEYS,
        *MODEL_PREFERENCE_KEYS,
    )
)


def scrub_json(value, scrub: Callable[[str], str]):
    """``value`` (JSON data: dicts, lists, strings, numbers…) with ``scrub`` applied to every
    string, and to keys other than ``FORMAT_KEYS``. ``value`` itself is never changed (it may be
    shared, remembered): changed strings come back in new containers."""
    if scrub is _unchanged:
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        keys = [key if key in FORMAT_KEYS else scrub(key) for key in value]
        return {
            key: scrub_json(item, scrub) for key, item in zip(_distinct(list(value), keys), value.values(), strict=True)
        }
    if isinstance(value, list | tuple):
        return [scrub_json(item, scrub) for item in value]
    return value


def _distinct(written: list[str], keys: list[str]) -> list[str]:
    """``keys`` (the ``written`` keys of an object, redacted), a redacted key that became one
    already there numbered (``note [SECRET] (2)``): else the object kept one value of the two and
    the other was lost. Keys redaction left as written keep their names."""
    if len(set(keys)) == len(keys):
        return keys
    taken = {key for key, before in zip(keys, written, strict=True) if key == before}
    distinct = []
    for key, before in zip(keys, written, strict=True):
        if key != before:
            number, base = 2, key
            while key in taken:
                key, number = f"{base} ({number})", number + 1
            taken.add(key)
        distinct.append(key)
    return distinct


@contextmanager
def read_snapshot():
    """One consistent snapshot for the whole export (REPEATABLE READ, read only).

    Inside a caller's transaction (tests) that transaction's view is used as it is.
    """
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


class StartedStream:
    """An export stream whose work up to its first chunk is already done (the BYOK secrets read
    and decrypted, the first rows fetched and written).

    The views build it before the response: a failure there (an undecryptable secret, the
    database gone) raises in the view and takes the API's one error path, a JSON envelope with
    the request id. Once a chunk has gone out the status line is sent, and a failure can only cut
    the body short (no ``export_meta``, so the document does not parse).

    A space larger than one chunk is still inside the export's read-only snapshot when the view
    returns (nothing after the view writes for a GET). ``close()``, which the server calls when
    the response ends or the client leaves, closes the generator and so ends that transaction.
    """

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._first = next(chunks)  # every export stream yields at least once

    def __iter__(self) -> Iterator[bytes]:
        yield self._first
        yield from self._chunks

    def close(self) -> None:
        self._chunks.close()


class _Buffer:
    """Collects text and hands out UTF-8 chunks of about ``FLUSH_BYTES``."""

    def __init__(self):
        self.parts: list[str] = []
        self.size = 0

    def add(self, text: str) -> bytes | None:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= FLUSH_BYTES:
            return self.flush()
        return None

    def flush(self) -> bytes:
        data = "".join(self.parts).encode("utf-8")
        self.parts, self.size = [], 0
        return data


def document_extension(options: ExportOptions, counts: dict) -> dict:
    return {
        "format": EXTENSION_FORMAT,
        "scope": options.scope,
        "types": included_types(options),
        "decisions_included": "decision" in included_types(options),
        "include_embeddings": options.include_embeddings,
        "since": iso_z(options.since),
        "counts": counts,
        "layout": "Each memory carries its structured data in memories[].vendor_extensions.synchronex.",
    }


def mif_json_stream(options: ExportOptions) -> Iterator[bytes]:
    """The MIF v2 document as UTF-8 chunks (see the module docstring for its layout)."""
    started = timezone.now()
    buffer = _Buffer()
    digest = hashlib.sha256()
    counts = {KIND_KERNEL: 0, KIND_PRODUCT: 0, KIND_DECISION: 0, KIND_MEMORY: 0}
    header = f'{{"mif_version":{canonical(MIF_VERSION)},"generator":{canonical(generator())},"memories":'
    buffer.add(header)
    with read_snapshot():
        scrub = export_scrubber(options.space)
        first = True
        for kind, memory in mif_memories(options, scrub=scrub):
            text = canonical(memory)
            scrub.note(text)
            piece = ("[" if first else ",") + text
            first = False
            counts[kind] += 1
            digest.update(piece.encode("utf-8"))
            if chunk := buffer.add(piece):
                yield chunk
    closing = "[]" if first else "]"
    digest.update(("[]" if first else "]").encode("utf-8"))
    export_meta = {
        "id": str(uuid.uuid4()),
        "created_at": iso_z(started),
        "user_id": options.user_id,
        "checksum": f"sha256:{digest.hexdigest()}",
        "checksum_covers": CHECKSUM_COVERS,
        "memory_count": sum(counts.values()),
        "privacy": scrub.privacy(),
    }
    buffer.add(
        f'{closing},"vendor_extensions":{canonical({VENDOR: document_extension(options, counts)})},'
        f'"export_meta":{canonical(export_meta)}}}'
    )
    yield buffer.flush()
