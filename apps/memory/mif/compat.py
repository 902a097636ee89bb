"""The maximum-compatibility form of a stored generic memory, and the way back.

A generic memory is stored exactly as it was imported (``Memory.raw``). Strict MIF readers
want more than many sources give: a canonical UUID ``id``, RFC 3339 timestamps, a
``memory_type``, string ``metadata`` values, a ``source`` naming the agent twice (``agent``
and ``agent_name``), UUID references only, an integer ``version`` ≥ 1. ``to_compatible``
produces that form and records every change it made in a *restore patch*
(``{"original": {field: value}, "added": [field, …], "written": {field: fingerprint | null}}``)
that the export puts under ``vendor_extensions.synchronex.restore``. ``from_compatible`` applies
the patch on import, so export → import → export gives the same memories and the stored ``raw``
is the original again.

A patch entry undoes the export's change only while the field still holds what the export
wrote: ``written`` has, for every field of the patch, the fingerprint of the value the export
wrote (``null``: it left the field out). A field the user changed in the file since — another
``memory_type``, a ``created_at`` of their own, a ``source`` naming their agent, a field the
export had dropped and they added back — keeps the user's value; the other fields of the patch
still apply. A fingerprint rather than the value itself, so that a search-and-replace over the
file changes the field but not the record of what was written (and the file stays small).
Patches of exports made before ``written`` existed are read by working it out: the export is
run again on the memory with the old patch applied, which gives what that export wrote, and
each field is compared with that. Had an older version normalised a field differently, that
field counts as edited and keeps the value in the file, the export's normalised form: a memory
is never worse off than without the patch.

Vectors are not part of the patch: ``embeddings`` is written only on request, from the vector
stored now (which may be of another model than the imported one).
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from apps.memory.mif.common import (
    KIND_MEMORY,
    VENDOR,
    as_metadata_string,
    canonical_uuid,
    iso_z,
    parse_timestamp,
    sorted_json,
)
from synchronex.api.parsers import depth_exceeds

UNKNOWN_AGENT = "unknown"
# How much deeper the export can nest a memory's data: a field it changes moves from
# ``memory.<field>`` to ``memory.vendor_extensions.synchronex.restore.original.<field>``.
EXPORT_EXTRA_DEPTH = 4
_ABSENT = object()
# It tells an edited field from an untouched one, nothing more: 64 bits make a chance match of
# an edit negligible and keep the patch short.
FINGERPRINT_CHARS = 16


def fingerprint(value) -> str | None:
    """The fingerprint of a field's value as written to the file; None for a field left out."""
    if value is _ABSENT:
        return None
    # surrogatepass: a value typed into the file may hold a lone surrogate; it must not crash here.
    text = sorted_json(value).encode("utf-8", "surrogatepass")
    return hashlib.sha256(text).hexdigest()[:FINGERPRINT_CHARS]


class _Patch:
    """Builds the compatible copy of ``raw`` and remembers what it changed."""

    def __init__(self, raw: dict):
        self.raw = raw
        self.out = dict(raw)
        self.original: dict = {}
        self.added: list[str] = []
        self.written: dict = {}

    def set(self, key: str, value) -> None:
        if key in self.raw:
            if self.raw[key] != value:
                self.original[key] = self.raw[key]
                self.written[key] = fingerprint(value)
        else:
            self.added.append(key)
            self.written[key] = fingerprint(value)
        self.out[key] = value

    def drop(self, key: str) -> None:
        if key in self.raw:
            self.original[key] = self.raw[key]
            self.written[key] = None
            self.out.pop(key, None)

    def restore(self) -> dict | None:
        if not self.original and not self.added:
            return None
        return {"original": self.original, "added": sorted(self.added), "written": self.written}


def _source(raw_source) -> dict:
    source = dict(raw_source) if isinstance(raw_source, dict) else {}
    for key in ("source_type", "session_id"):
        if key in source and not isinstance(source[key], str):
            if source[key] is None:
                del source[key]
            else:
                source[key] = as_metadata_string(source[key])
    agent = source.get("agent") if isinstance(source.get("agent"), str) else None
    agent_name = source.get("agent_name") if isinstance(source.get("agent_name"), str) else None
    source["agent"] = agent or agent_name or UNKNOWN_AGENT
    source["agent_name"] = agent_name or agent or UNKNOWN_AGENT
    return source


def _entities(raw_entities) -> list:
    kept = []
    for entity in raw_entities if isinstance(raw_entities, list) else []:
        if not isinstance(entity, dict) or not isinstance(entity.get("name"), str):
            continue
        entity = dict(entity)
        if "entity_type" in entity and not isinstance(entity["entity_type"], str):
            entity.pop("entity_type")
        confidence = entity.get("confidence", _ABSENT)
        if confidence is not _ABSENT and (
            isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1
        ):
            entity.pop("confidence")
        kept.append(entity)
    return kept


def to_compatible(raw: dict, *, memory, embeddings: dict | None) -> dict:
    """The export form of a stored generic memory (``memory``: its row, with ``memory_id``,
    ``created_at`` and ``updated_at``)."""
    patch = _Patch(raw)
    patch.set("id", str(memory.memory_id))
    patch.set("created_at", iso_z(memory.created_at))
    if memory.updated_at is not None:
        patch.set("updated_at", iso_z(memory.updated_at))
    elif "updated_at" in raw:
        patch.drop("updated_at")
    if not isinstance(raw.get("memory_type"), str) or not raw["memory_type"].strip():
        patch.set("memory_type", "observation")

    if isinstance(raw.get("metadata"), dict):
        patch.set("metadata", {key: as_metadata_string(value) for key, value in raw["metadata"].items()})
    elif "metadata" in raw:
        patch.drop("metadata")
    patch.set("source", _source(raw.get("source")))
    for key in ("tags", "entities", "related_memory_ids"):
        if key in raw and not isinstance(raw[key], list):
            patch.drop(key)
    if isinstance(raw.get("entities"), list):
        patch.set("entities", _entities(raw["entities"]))
    if isinstance(raw.get("related_memory_ids"), list):
        patch.set("related_memory_ids", [u for u in map(canonical_uuid, raw["related_memory_ids"]) if u])
    if "parent_id" in raw and raw["parent_id"] is not None:
        parent = canonical_uuid(raw["parent_id"])
        if parent:
            patch.set("parent_id", parent)
        else:
            patch.drop("parent_id")
    for key in ("agent_id", "external_id"):
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            patch.set(key, as_metadata_string(raw[key]))
    version = raw.get("version", _ABSENT)
    if version is not _ABSENT and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        patch.drop("version")

    # The vector is an export option, not part of the memory's identity: never in the patch.
    patch.out.pop("embeddings", None)
    if embeddings is not None:
        patch.out["embeddings"] = embeddings

    # The import takes our extension out again, so what the export wrote in vendor_extensions is
    # the memory's own extensions: none when it had none, an empty object (which would vanish on
    # the way back) or a value that is not an object (replaced here).
    raw_extensions = raw.get("vendor_extensions")
    if not isinstance(raw_extensions, dict) or not raw_extensions:
        if "vendor_extensions" in raw:
            patch.drop("vendor_extensions")
        else:
            patch.added.append("vendor_extensions")
            patch.written["vendor_extensions"] = None
    extension = {"kind": KIND_MEMORY}
    restore = patch.restore()
    if restore:
        extension["restore"] = restore
    own = raw_extensions if isinstance(raw_extensions, dict) else {}
    patch.out["vendor_extensions"] = {**own, VENDOR: extension}
    return patch.out


def exported_depth_exceeds(raw: dict, *, memory, limit: int) -> bool:
    """Whether ``raw``, written by the export (``to_compatible``; ``memory`` as there), nests more
    than ``limit`` levels, the memory object being level 1. Only a memory within
    ``EXPORT_EXTRA_DEPTH`` levels of the limit is converted to be measured."""
    if not depth_exceeds(raw, limit - EXPORT_EXTRA_DEPTH):
        return False
    return depth_exceeds(to_compatible(raw, memory=memory, embeddings=None), limit)


def from_compatible(memory: dict, *, restore) -> dict:
    """The stored form of an imported memory: our extension removed, the restore patch applied
    to every field that still holds what the export wrote (see the module docstring).

    ``memory`` is the memory as found in the document (not modified). A malformed patch is
    ignored field by field; the result is validated like any other memory afterwards.
    """
    raw = dict(memory)
    extensions = raw.get("vendor_extensions")
    if isinstance(extensions, dict) and VENDOR in extensions:
        rest = {key: value for key, value in extensions.items() if key != VENDOR}
        if rest:
            raw["vendor_extensions"] = rest
        else:
            raw.pop("vendor_extensions")
    if not isinstance(restore, dict):
        return raw
    added = restore.get("added")
    added = [key for key in (added if isinstance(added, list) else []) if isinstance(key, str) and key != "id"]
    original = restore.get("original")
    original = original if isinstance(original, dict) else {}
    written = restore.get("written")
    if not isinstance(written, dict):  # a patch of an export older than ``written``
        written = _written_by_export(_patched(raw, added, original))
    for key in dict.fromkeys([*added, *original]):
        if fingerprint(raw.get(key, _ABSENT)) != written.get(key, _ABSENT):
            continue  # changed in the file since the export: the file's value stays
        if key in original:
            raw[key] = original[key]
        else:
            raw.pop(key, None)
    return raw


def _patched(raw: dict, added: list[str], original: dict) -> dict:
    """``raw`` with the whole patch applied, edited fields or not."""
    restored = {key: value for key, value in raw.items() if key not in added}
    restored.update(original)
    return restored


def _written_by_export(restored: dict) -> dict:
    """The ``written`` record the export makes of ``restored``, the memory as it was stored."""
    row = SimpleNamespace(
        memory_id=canonical_uuid(restored.get("id")),
        created_at=parse_timestamp(restored.get("created_at")),
        updated_at=parse_timestamp(restored.get("updated_at")),
    )
    again = to_compatible(restored, memory=row, embeddings=None)
    return again["vendor_extensions"][VENDOR].get("restore", {}).get("written", {})
