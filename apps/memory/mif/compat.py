"""The maximum-compatibility form of a stored generic memory, and the way back.

A generic memory is stored exactly as it was imported (``Memory.raw``). Strict MIF readers
want more than many sources give: a canonical UUID ``id``, RFC 3339 timestamps, a
``memory_type``, string ``metadata`` values, a ``source`` naming the agent twice (``agent``
and ``agent_name``), UUID references only, an integer ``version`` ≥ 1. ``to_compatible``
produces that form and records every change it made in a *restore patch*
(``{"original": {field: value}, "added": [field, …]}``) that the export puts under
``vendor_extensions.synchronex.restore``. ``from_compatible`` applies the patch on import, so
export → import → export gives the same memories and the stored ``raw`` is the original again.

Vectors are not part of the patch: ``embeddings`` is written only on request, from the vector
stored now (which may be of another model than the imported one).
"""

from __future__ import annotations

from apps.memory.mif.common import (
    KIND_MEMORY,
    VENDOR,
    as_metadata_string,
    canonical_uuid,
    iso_z,
)

UNKNOWN_AGENT = "unknown"
_ABSENT = object()


class _Patch:
    """Builds the compatible copy of ``raw`` and remembers what it changed."""

    def __init__(self, raw: dict):
        self.raw = raw
        self.out = dict(raw)
        self.original: dict = {}
        self.added: list[str] = []

    def set(self, key: str, value) -> None:
        if key in self.raw:
            if self.raw[key] != value:
                self.original[key] = self.raw[key]
        else:
            self.added.append(key)
        self.out[key] = value

    def drop(self, key: str) -> None:
        if key in self.raw:
            self.original[key] = self.raw[key]
            self.out.pop(key, None)

    def restore(self) -> dict | None:
        if not self.original and not self.added:
            return None
        return {"original": self.original, "added": sorted(self.added)}


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

    extension = {"kind": KIND_MEMORY}
    restore = patch.restore()
    if restore:
        extension["restore"] = restore
    raw_extensions = raw.get("vendor_extensions")
    if isinstance(raw_extensions, dict):
        if not raw_extensions:  # an empty object would vanish on the way back: keep it in the patch
            extension.setdefault("restore", {"original": {}, "added": []})["original"]["vendor_extensions"] = {}
        patch.out["vendor_extensions"] = {**raw_extensions, VENDOR: extension}
    else:
        if "vendor_extensions" in raw:  # not an object: kept in the patch, replaced here
            extension.setdefault("restore", {"original": {}, "added": []})["original"]["vendor_extensions"] = raw[
                "vendor_extensions"
            ]
        else:
            extension.setdefault("restore", {"original": {}, "added": []})["added"].append("vendor_extensions")
        patch.out["vendor_extensions"] = {VENDOR: extension}
    return patch.out


def from_compatible(memory: dict, *, restore) -> dict:
    """The stored form of an imported memory: our extension removed, the restore patch applied.

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
    for key in added if isinstance(added, list) else []:
        if isinstance(key, str) and key != "id":
            raw.pop(key, None)
    original = restore.get("original")
    for key, value in (original if isinstance(original, dict) else {}).items():
        raw[key] = value
    return raw
