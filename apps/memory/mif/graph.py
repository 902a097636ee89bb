"""Knowledge graphs of imported documents → memories.

Synchronex keeps no graph of its own, so graph data becomes memories the way the MCP memory
server's relations do (``mcp_jsonl``), whatever the format it came in:

- each relationship is one ``relation`` memory, ``"<source> <relation type> <target>"`` (``_``
  read as a space), with both ends as its ``entities``;
- ids are UUIDv5 of what the memory says (the relationship's three parts, an entity's text), so
  re-importing the same document finds the same ids; ``created_at`` is the record's own when it
  has a valid one, else the import time;
- the original record is kept under the memory's ``vendor_extensions`` (``mem0`` for a mem0
  relation, ``mif-knowledge-graph`` for MIF), so the export gives the graph back — as these
  memories: an export writes no ``knowledge_graph``.

A MIF ``knowledge_graph`` (``{"entities": [{id, name, types, summary, …}], "relationships":
[{id, source_entity_id, target_entity_id, relation_type, …}]}``) also turns each entity into a
memory, as the MCP importer does: ``"<name>: <summary>"`` (``observation``) when it has a
summary, else ``"<name> (<types>)"`` (``context``). A relationship names its ends by their
entities' names (by the id itself when no entity has it). Other keys of ``knowledge_graph`` are
reported as not imported. In errors, graph items are numbered after the document's memories:
the entities, then the relationships.
"""

from __future__ import annotations

from datetime import datetime

from apps.memory.mif.common import Candidate, derived_id, given_id, iso_z, parse_timestamp
from apps.memory.services import unstorable

MIF_VENDOR_KEY = "mif-knowledge-graph"
GRAPH_PARTS = ("entities", "relationships")
UNKNOWN_TYPE = "unknown"


def relation_memory(
    memory_id, *, ends: list[tuple[str, str]], relation: str, created_at: str, source: dict, vendor: dict
) -> dict:
    """The ``relation`` memory of ``(source name, type), (target name, type)`` linked by ``relation``."""
    (first, _), (last, _) = ends
    entities = [{"name": name, "entity_type": kind or UNKNOWN_TYPE, "confidence": 1.0} for name, kind in ends]
    if last == first:
        entities = entities[:1]
    return {
        "id": str(memory_id),
        "content": f"{first} {relation.replace('_', ' ')} {last}",
        "memory_type": "relation",
        "created_at": created_at,
        "entities": entities,
        "source": source,
        "vendor_extensions": vendor,
    }


def text(record: dict, key: str) -> str:
    """``record[key]``, which must be non-blank text."""
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"'{key}' must be non-blank text.")
    return value


def checked(record) -> dict:
    """``record`` when it is an object PostgreSQL can hold (the ids are derived from its text)."""
    if not isinstance(record, dict):
        raise ValueError("It must be a JSON object.")
    if problem := unstorable(record):
        raise ValueError(problem)
    return record


def created(record: dict, now: datetime) -> str:
    given = record.get("created_at")
    return given if parse_timestamp(given) is not None else iso_z(now)


def knowledge_graph_candidates(graph, *, start: int, now: datetime, agent: str) -> tuple[list[Candidate], list[str]]:
    """The memories of a MIF ``knowledge_graph`` and the paths of its parts not imported.

    ``start`` is the error index of the first graph item; ``agent`` names the system the
    document came from (the memories' ``source``).
    """
    if graph is None:
        return [], []
    if not isinstance(graph, dict):
        return [], ["knowledge_graph"]
    unread = [f"knowledge_graph.{key}" for key in graph if key not in GRAPH_PARTS]
    parts = {}
    for part in GRAPH_PARTS:
        value = graph.get(part, [])
        if not isinstance(value, list):
            unread.append(f"knowledge_graph.{part}")
            value = []
        parts[part] = value
    source = {"source_type": "knowledge_graph", "agent": agent, "agent_name": agent}
    entities: dict = {}  # id → (name, first type) of each usable entity, filled in as they are read
    candidates = []
    index = start
    for part, convert in (("entities", _entity), ("relationships", _relationship)):
        for position, record in enumerate(parts[part]):
            try:
                memory = convert(checked(record), entities=entities, now=now, source=source)
                candidates.append(Candidate(index, given_id(record), memory=memory))
            except ValueError as exc:
                problem = f"knowledge_graph.{part}[{position}]: {exc}"
                candidates.append(Candidate(index, given_id(record), error=problem))
            index += 1
    return candidates, unread


def _entity(record: dict, *, entities: dict, now: datetime, source: dict) -> dict:
    """The entity's memory; it also enters ``entities``, which names the relationships' ends."""
    given = text(record, "id")
    name = text(record, "name")
    types = record.get("types")
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        raise ValueError("'types' must be a list of strings.")
    types = [t for t in types or [] if t.strip()]
    summary = record.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise ValueError("'summary' must be text.")
    if summary and summary.strip():
        content, memory_type = f"{name}: {summary}", "observation"
    else:
        content, memory_type = (f"{name} ({', '.join(types)})" if types else name), "context"
    entities.setdefault(given, (name, types[0] if types else ""))
    return {
        "id": str(derived_id("mif-graph-entity", content)),
        "content": content,
        "memory_type": memory_type,
        "created_at": created(record, now),
        "entities": [{"name": name, "entity_type": types[0] if types else UNKNOWN_TYPE, "confidence": 1.0}],
        "source": dict(source),
        "vendor_extensions": {MIF_VENDOR_KEY: {"entity": record}},
    }


def _relationship(record: dict, *, entities: dict, now: datetime, source: dict) -> dict:
    """The relationship's memory, its ends named by their entities' names (else by their ids)."""
    text(record, "id")
    ends = [entities.get(text(record, key), (record[key], "")) for key in ("source_entity_id", "target_entity_id")]
    relation = text(record, "relation_type")
    (first, _), (last, _) = ends
    return relation_memory(
        derived_id("mif-graph-relation", first, relation, last),
        ends=ends,
        relation=relation,
        created_at=created(record, now),
        source=dict(source),
        vendor={MIF_VENDOR_KEY: {"relationship": record}},
    )
