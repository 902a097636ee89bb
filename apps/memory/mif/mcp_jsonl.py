"""The MCP memory server's knowledge graph (JSONL) → MIF memories.

The reference MCP memory server stores one JSON object per line:
``{"type": "entity", "name", "entityType", "observations": [str]}`` and
``{"type": "relation", "from", "to", "relationType"}``. It has no ids and no timestamps, so:

- each observation of an entity becomes one memory, ``"<name>: <observation>"`` (the entity's
  name keeps the fact self-contained, and two entities with the same observation stay two
  memories), typed ``observation``;
- an entity without observations becomes one ``context`` memory naming it and its type;
- each relation becomes one ``relation`` memory, ``"<from> <relation type> <to>"``;
- ids are UUIDv5 of the record's identity (entity name + observation, or the relation's three
  parts), so re-importing the same file finds the same ids; ``created_at`` is the import time;
- the entity (``entity_type`` ← ``entityType``) or both ends of a relation are the memory's
  ``entities``, and the original record (one observation at a time) is kept under
  ``vendor_extensions.mcp-memory``.

``index`` in errors is the 0-based line number in the body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from apps.memory.mif.common import Candidate, derived_id, iso_z
from apps.memory.mif.graph import relation_memory
from apps.memory.services import unstorable
from synchronex.api.parsers import MAX_DEPTH, depth_exceeds, marked_float, unique_keys

VENDOR_KEY = "mcp-memory"
SOURCE = {"source_type": "mcp-memory", "agent": "mcp-memory", "agent_name": "mcp-memory"}


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _parse(line: str, *, repeats: bool = False):
    """One line's record; ValueError for any line that is not usable JSON, so it stays one line's error.
    That includes an object that repeats a key (the API's rule: which value was meant cannot be
    known), unless ``repeats`` (detection only, which reads nothing but ``type``)."""
    try:
        record = json.loads(
            line,
            parse_constant=_reject_constant,
            parse_float=marked_float,
            object_pairs_hook=None if repeats else unique_keys,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if depth_exceeds(record, MAX_DEPTH):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return record


def jsonl_lines(text: str) -> Iterator[str]:
    r"""The body's lines, split on ``\n`` only, each without one trailing ``\r`` (CRLF files).

    Not ``str.splitlines()``: it also breaks on U+2028, U+2029, U+0085, ``\x0b``, ``\x0c`` and
    ``\x1c``-``\x1e``, and Node's ``JSON.stringify`` (which writes memory.jsonl) leaves the first
    three raw inside strings: a pasted paragraph would cut its record apart and shift the line
    numbers of every error after it.
    """
    for line in text.split("\n"):
        yield line[:-1] if line.endswith("\r") else line


def looks_like_jsonl(text: str) -> bool:
    """Whether the first non-blank line is an MCP memory record (``{"type": "entity"|"relation"}``)."""
    for line in jsonl_lines(text):
        if line.strip():
            try:
                record = _parse(line, repeats=True)  # a repeated key is that line's error, not another format
            except ValueError:
                return False
            return isinstance(record, dict) and record.get("type") in ("entity", "relation")
    return False


def _text(record: dict, key: str, *, required: bool = True) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"'{key}' must be non-blank text.")
    return value


def _memory(memory_id, content: str, memory_type: str, entities: list, record: dict, created_at: str) -> dict:
    return {
        "id": str(memory_id),
        "content": content,
        "memory_type": memory_type,
        "created_at": created_at,
        "entities": entities,
        "source": dict(SOURCE),
        "vendor_extensions": {VENDOR_KEY: record},
    }


def _entity(record: dict, index: int, created_at: str) -> list[Candidate]:
    name = _text(record, "name")
    entity_type = _text(record, "entityType", required=False)
    observations = record.get("observations", [])
    if not isinstance(observations, list):
        raise ValueError("'observations' must be a list of strings.")
    entity = {"name": name, "entity_type": entity_type or "unknown", "confidence": 1.0}
    base = {key: value for key, value in record.items() if key != "observations"}
    if not observations:
        memory_id = derived_id("mcp-entity", name)
        content = f"{name} ({entity_type})" if entity_type.strip() else name
        return [Candidate(index, str(memory_id), _memory(memory_id, content, "context", [entity], base, created_at))]
    out = []
    for number, observation in enumerate(observations):
        if not isinstance(observation, str) or not observation.strip():
            out.append(Candidate(index, None, error=f"line {index + 1}: observation {number} is not non-blank text."))
            continue
        memory_id = derived_id("mcp-observation", name, observation)
        out.append(
            Candidate(
                index,
                str(memory_id),
                _memory(
                    memory_id,
                    f"{name}: {observation}",
                    "observation",
                    [entity],
                    {**base, "observation": observation},
                    created_at,
                ),
            )
        )
    return out


def _relation(record: dict, index: int, created_at: str) -> Candidate:
    source, target, relation = _text(record, "from"), _text(record, "to"), _text(record, "relationType")
    memory_id = derived_id("mcp-relation", source, relation, target)
    memory = relation_memory(
        memory_id,
        ends=[(source, ""), (target, "")],
        relation=relation,
        created_at=created_at,
        source=dict(SOURCE),
        vendor={VENDOR_KEY: record},
    )
    return Candidate(index, str(memory_id), memory)


def mcp_candidates(text: str, *, now: datetime) -> list[Candidate]:
    """Every record of an MCP memory JSONL body, converted or with the reason it could not be."""
    created_at = iso_z(now)
    candidates: list[Candidate] = []
    for index, line in enumerate(jsonl_lines(text)):
        if not line.strip():
            continue
        try:
            record = _parse(line)
        except ValueError as exc:
            candidates.append(Candidate(index, None, error=f"line {index + 1}: not valid JSON ({exc})."))
            continue
        try:
            if not isinstance(record, dict):
                raise ValueError("each line must be a JSON object.")
            problem = unstorable(record)
            if problem:
                raise ValueError(problem)
            kind = record.get("type")
            if kind == "entity":
                candidates += _entity(record, index, created_at)
            elif kind == "relation":
                candidates.append(_relation(record, index, created_at))
            else:
                raise ValueError('\'type\' must be "entity" or "relation".')
        except ValueError as exc:
            message = str(exc)
            if not message.startswith("line "):
                message = f"line {index + 1}: {message}"
            candidates.append(Candidate(index, None, error=message))
    return candidates
