"""mem0 exports → MIF memories.

A mem0 export is a JSON array of ``{id, memory, metadata, created_at, updated_at, …}`` (or the
``{"results": [...]}`` object its ``get_all`` returns). Each item becomes one MIF memory:

- ``id``: the mem0 id when it is a UUID, else a UUIDv5 derived from it (or from the text when
  there is no id), so importing the same export twice finds the same ids; the mem0 id is also
  kept as ``external_id``;
- ``content`` ← ``memory``; ``created_at`` ← ``created_at`` (else ``updated_at``, else the
  import time); ``updated_at`` as given;
- ``memory_type`` from the mem0 category (``metadata.category`` or the first of
  ``categories``): decision, learning (also fact), error (also mistake), task (also todo),
  otherwise observation; ``tags`` ← ``categories``;
- ``metadata`` as given; ``agent_id`` ← ``agent_id``; ``source`` names mem0;
- every other mem0 field (``user_id``, ``run_id``, ``hash``, ``score``, …) is kept under the
  memory's ``vendor_extensions.mem0``, so nothing of the item is lost.

The object form may carry mem0's graph as ``relations``: ``[{source, source_type?, relationship,
target (or destination), target_type?, score?}]``. Each relation becomes one ``relation`` memory
as ``graph.relation_memory`` makes it (the record under ``vendor_extensions.mem0``), with an id
derived from its three parts; in errors they are numbered after the memories.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from apps.memory.mif.common import Candidate, canonical_uuid, derived_id, given_id, iso_z, parse_timestamp
from apps.memory.mif.graph import checked, relation_memory, text
from apps.memory.services import unstorable

CATEGORY_TYPES = {
    "decision": "decision",
    "decisions": "decision",
    "learning": "learning",
    "fact": "learning",
    "facts": "learning",
    "error": "error",
    "mistake": "error",
    "task": "task",
    "todo": "task",
}
MAPPED = {"id", "memory", "metadata", "created_at", "updated_at", "agent_id", "categories"}
SOURCE = {"source_type": "mem0", "agent": "mem0", "agent_name": "mem0"}


def _memory_type(metadata: dict, categories: list[str]) -> str:
    category = metadata.get("category")
    if not isinstance(category, str) and categories:
        category = categories[0]
    return CATEGORY_TYPES.get(category.strip().lower(), "observation") if isinstance(category, str) else "observation"


def mem0_memory(item, *, now: datetime) -> dict:
    """One mem0 item as a MIF memory; raises ValueError with a reason when it cannot be one."""
    if not isinstance(item, dict):
        raise ValueError("Each mem0 item must be a JSON object.")
    problem = unstorable(item)
    if problem:
        raise ValueError(problem)
    text = item.get("memory")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("A mem0 item needs 'memory': non-blank text.")
    raw_id = item.get("id")
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        raise ValueError("'id' must be a string.")
    if raw_id is not None:
        memory_id = canonical_uuid(str(raw_id)) or str(derived_id("mem0", str(raw_id)))
    else:
        memory_id = str(derived_id("mem0-content", hashlib.sha256(text.encode("utf-8")).hexdigest()))

    created_at = item.get("created_at") or item.get("updated_at")
    if created_at is not None and parse_timestamp(created_at) is None:
        raise ValueError("'created_at' is not an ISO 8601 date-time.")
    updated_at = item.get("updated_at")
    if updated_at is not None and parse_timestamp(updated_at) is None:
        raise ValueError("'updated_at' is not an ISO 8601 date-time.")
    metadata = item.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError("'metadata' must be an object.")
    categories = item.get("categories")
    if categories is not None and (
        not isinstance(categories, list) or not all(isinstance(c, str) and c.strip() for c in categories)
    ):
        raise ValueError("'categories' must be a list of non-blank strings.")
    agent_id = item.get("agent_id")
    if agent_id is not None and not isinstance(agent_id, str):
        raise ValueError("'agent_id' must be a string.")

    memory = {
        "id": memory_id,
        "content": text,
        "memory_type": _memory_type(metadata or {}, categories or []),
        "created_at": created_at or iso_z(now),
        "source": dict(SOURCE),
    }
    if updated_at is not None:
        memory["updated_at"] = updated_at
    if categories:
        memory["tags"] = list(categories)
    if metadata:
        memory["metadata"] = metadata
    if agent_id:
        memory["agent_id"] = agent_id
    if raw_id is not None:
        memory["external_id"] = str(raw_id)
    rest = {key: value for key, value in item.items() if key not in MAPPED}
    if rest:
        memory["vendor_extensions"] = {"mem0": rest}
    return memory


def mem0_candidates(items: list, *, now: datetime) -> list[Candidate]:
    """Every item of a mem0 export, converted or with the reason it could not be."""
    candidates = []
    for index, item in enumerate(items):
        try:
            candidates.append(Candidate(index, given_id(item), memory=mem0_memory(item, now=now)))
        except ValueError as exc:
            candidates.append(Candidate(index, given_id(item), error=str(exc)))
    return candidates


def _relation(record: dict, *, now: datetime) -> dict:
    source, relation = text(record, "source"), text(record, "relationship")
    target = text(record, "target" if record.get("target") is not None else "destination")
    return relation_memory(
        derived_id("mem0-relation", source, relation, target),
        ends=[(source, _optional_text(record, "source_type")), (target, _optional_text(record, "target_type"))],
        relation=relation,
        created_at=iso_z(now),
        source=dict(SOURCE),
        vendor={"mem0": record},
    )


def _optional_text(record: dict, key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else ""


def mem0_relation_candidates(relations: list, *, start: int, now: datetime) -> list[Candidate]:
    """Every relation of a mem0 export's graph; ``start`` is the error index of the first one."""
    candidates = []
    for position, record in enumerate(relations):
        try:
            candidates.append(Candidate(start + position, given_id(record), memory=_relation(checked(record), now=now)))
        except ValueError as exc:
            candidates.append(Candidate(start + position, given_id(record), error=f"relations[{position}]: {exc}"))
    return candidates
