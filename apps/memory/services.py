"""Writes for generic memories.

``memory_create`` is the one way a generic memory enters the database: tests use it now, the
MIF importer later. It takes one MIF v2 memory object as parsed JSON, keeps that object whole in
``raw`` (so an export can give it back unchanged) and copies the known fields into typed columns
for search and filtering.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.postgres.search import SearchVector
from django.db import IntegrityError, transaction
from django.db.models import Q, Value

from apps.decisions.api.serializers import parse_instant
from apps.memory.models import MEMORY_TITLE_SEARCH_CHARS, SEARCH_CONFIG, Memory
from apps.memory.spaceless import Searchable
from synchronex.api import errors
from synchronex.api.parsers import TooSmallFloat, json_leaves
from synchronex.text import nfc

logger = logging.getLogger(__name__)

MAX_CONTENT_CHARS = 100_000
MAX_MEMORY_TYPE_CHARS = 100
MAX_TAGS = 100
MAX_TAG_CHARS = 200
MAX_RELATED_IDS = 1_000
MAX_VERSION = 2**31 - 1  # the column is a PostgreSQL integer
MAX_REF_CHARS = 255  # parent_id, related ids, agent_id, external_id
MAX_EMBEDDING_DIMENSIONS = 16_000  # pgvector's limit for the vector type
# pgvector stores 32-bit floats: a number fits when it rounds to a finite one. That is every
# number below the largest 32-bit float (3.4028234663852886e38) plus half its last place, so also
# 3.4028235e38, the shortest spelling of that float, which pgvector, numpy and our own export
# write. The largest double below that half-way point (which rounds to infinity):
MAX_VECTOR_COMPONENT = 3.4028235677973362e38
# Entity names are searchable up to this many characters: a memory's whole search document must
# stay within PostgreSQL's 1 MiB tsvector limit, and the entity list has no length limit of its own.
MAX_ENTITY_SEARCH_CHARS = 10_000


class DuplicateMemory(errors.Conflict):
    """The space already holds this memory (same id, or same content)."""

    def __init__(self, existing: Memory, *, by: str):
        self.existing = existing
        self.by = by
        super().__init__(
            f"This space already holds that memory (same {'id' if by == 'id' else 'content'}).",
            details={"duplicate_of": str(existing.memory_id), "by": by},
        )


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MemoryFields:
    """A MIF memory checked and split into the typed columns of ``Memory``."""

    memory_id: uuid.UUID
    content: str
    content_sha256: str
    memory_type: str
    tags: list[str]
    entities: list
    metadata: dict
    source: dict | None
    parent_id: str
    related_memory_ids: list[str]
    agent_id: str
    external_id: str
    version: int | None
    created_at: datetime
    updated_at: datetime | None
    embedding: list[float] | None
    embedding_model: str
    embedding_dimensions: int | None


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(value) -> str | None:
    """Why PostgreSQL cannot store a parsed JSON value in its text and jsonb columns, or None.

    NUL is not allowed in either; a lone UTF-16 surrogate (a JSON escape such as ``"\\ud800"``
    without its pair parses to one) is not a character, so no UTF-8 text carries it; a number
    beyond a double's range (``1e400``) parses to infinity, which jsonb refuses; one that is not
    zero but below it (``1e-400``, a ``TooSmallFloat`` from ``marked_float``) would be stored as
    0, the value sent lost without a word. The walk is
    iterative, so no nesting depth can exhaust the stack.
    """
    for leaf in json_leaves(value):
        if isinstance(leaf, str):
            if "\x00" in leaf:
                return "Must not contain NUL (U+0000) characters."
            if not leaf.isascii() and LONE_SURROGATE.search(leaf):
                return "Must not contain a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair)."
        elif isinstance(leaf, float) and not math.isfinite(leaf):
            return "Numbers must be within a double's range (1e400 is not)."
        elif isinstance(leaf, TooSmallFloat):
            return "Numbers other than zero must not be too small for a double (1e-400 would read as 0)."
    return None


def _vector_component(value) -> bool:
    """A JSON number that a vector component (a 32-bit float) can hold."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return abs(float(value)) <= MAX_VECTOR_COMPONENT
    except OverflowError:  # an integer beyond a double's range
        return False


# The smallest normal 32-bit float. pgvector sums a vector's squared components in 32-bit floats:
# below this the sum is zero or a few bits of one, and the cosine distance to every vector NaN or
# noise (measured: a zero vector ties every stored one first, [1e-45, 0] is at 0 from any vector).
FLOAT32_SMALLEST_NORMAL = 1.1754943508222875e-38


def has_direction(vector: list[float]) -> bool:
    """Whether cosine distances from ``vector`` mean something: its squared norm is a normal
    32-bit float (an all-zero vector, or one of components under ~1e-19, has none). Provider
    answers and imported vectors are both held to it."""
    return math.fsum(x * x for x in vector) >= FLOAT32_SMALLEST_NORMAL


def _timestamp(value, name: str, problems: dict, *, required: bool) -> datetime | None:
    if value is None:
        if required:
            problems[name] = "This field is required."
        return None
    # The REST API's rule (``parse_instant``; ``mif.common.parse_timestamp`` says what it takes):
    # a time without an offset is UTC, the contract's zone; 30 February or non-ASCII digits, none.
    parsed = parse_instant(value) if isinstance(value, str) else None
    if parsed is None:
        problems[name] = "Use an ISO 8601 date-time."
        return None
    try:
        return parsed[0].astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+05:00 is a moment of year 0 in UTC
        problems[name] = "Must fall within the years 1 to 9999 in UTC."
        return None


def _ref(value, name: str, problems: dict) -> str:
    """An identifier from another system: a string (numbers are accepted and written as text)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems[name] = "Must be a string."
        return ""
    text = str(value)
    if len(text) > MAX_REF_CHARS:
        problems[name] = f"At most {MAX_REF_CHARS} characters."
        return ""
    return text


def _embedding(value, problems: dict) -> tuple[list[float] | None, str, int | None]:
    """A MIF ``embeddings`` object ``{model, dimensions, vector, normalized}``; absent is fine."""
    if value is None:
        return None, "", None
    if not isinstance(value, dict):
        problems["embeddings"] = "Must be an object {model, dimensions, vector}."
        return None, "", None
    model, vector = value.get("model"), value.get("vector")
    if vector is None:
        return None, "", None  # metadata without a vector: nothing to store in the columns
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        problems["embeddings.model"] = "A vector needs the name of its model (at most 200 characters)."
        return None, "", None
    # The length first, by itself: a list past the bound is refused before any item is looked at,
    # as the API's lists are (``StrictList``), whatever its items hold.
    if isinstance(vector, list) and len(vector) > MAX_EMBEDDING_DIMENSIONS:
        problems["embeddings.vector"] = f"At most {MAX_EMBEDDING_DIMENSIONS} numbers."
        return None, "", None
    if not isinstance(vector, list) or not vector or not all(_vector_component(x) for x in vector):
        problems["embeddings.vector"] = (
            "Must be a non-empty list of numbers a 32-bit float holds (at most 3.4028235e38 in size)."
        )
        return None, "", None
    if not has_direction([float(x) for x in vector]):
        problems["embeddings.vector"] = "Has no direction (all zeros, or too small to compare)."
        return None, "", None
    dimensions = value.get("dimensions")
    if dimensions is not None and dimensions != len(vector):
        problems["embeddings.dimensions"] = "Does not match the length of the vector."
        return None, "", None
    return [float(x) for x in vector], model, len(vector)


def embedding_validate(value) -> tuple[list[float] | None, str, int | None]:
    """A MIF ``embeddings`` object checked as ``memory_validate`` checks a generic memory's (the
    MIF import restores a decision's vector with it): ``(vector, model, dimensions)``, empty
    without a vector; VALIDATION_ERROR naming the bad field."""
    problems: dict[str, str] = {}
    if (problem := unstorable(value)) is not None:
        problems["embeddings"] = problem
        found = None, "", None
    else:
        found = _embedding(value, problems)
    if problems:
        raise errors.ValidationFailed.for_fields(problems, "The embeddings are not valid.")
    return found


def memory_validate(*, data) -> MemoryFields:
    """Check one MIF memory object; raise VALIDATION_ERROR naming every bad field (nothing written).

    Required: ``id`` (UUID), ``content`` (non-blank text), ``created_at``. Unknown fields are
    allowed and kept in ``raw`` only. Text is neither trimmed nor NFC-normalised: the memory is kept
    as the source wrote it (``search_document`` searches its NFC form).
    """
    if not isinstance(data, dict):
        raise errors.ValidationFailed.for_fields({"memory": "Each memory must be a JSON object."})
    problems: dict[str, str] = {}
    unstorable_problem = unstorable(data)
    if unstorable_problem:
        problems["memory"] = unstorable_problem

    memory_id = None
    raw_id = data.get("id")
    if raw_id is None:
        problems["id"] = "This field is required."
    else:
        try:
            memory_id = uuid.UUID(str(raw_id)) if isinstance(raw_id, str) else None
        except ValueError:
            memory_id = None
        if memory_id is None:
            problems["id"] = "Must be a UUID."

    content = data.get("content")
    if not isinstance(content, str) or not content.strip():
        problems["content"] = "Must be non-blank text."
        content = ""
    elif len(content) > MAX_CONTENT_CHARS:
        problems["content"] = f"At most {MAX_CONTENT_CHARS} characters."

    memory_type = data.get("memory_type") or ""
    if not isinstance(memory_type, str) or len(memory_type) > MAX_MEMORY_TYPE_CHARS:
        problems["memory_type"] = f"Must be a string of at most {MAX_MEMORY_TYPE_CHARS} characters."
        memory_type = ""

    tags = data.get("tags") or []
    if (
        not isinstance(tags, list)
        or len(tags) > MAX_TAGS
        or not all(isinstance(t, str) and len(t) <= MAX_TAG_CHARS for t in tags)
    ):
        problems["tags"] = f"Must be a list of at most {MAX_TAGS} strings of at most {MAX_TAG_CHARS} characters."
        tags = []

    entities = data.get("entities") or []
    if not isinstance(entities, list):
        problems["entities"] = "Must be a list."
        entities = []
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        problems["metadata"] = "Must be an object."
        metadata = {}
    source = data.get("source")
    if source is not None and not isinstance(source, dict):
        problems["source"] = "Must be an object."
        source = None

    related = data.get("related_memory_ids") or []
    if not isinstance(related, list) or len(related) > MAX_RELATED_IDS:
        problems["related_memory_ids"] = f"Must be a list of at most {MAX_RELATED_IDS} ids."
        related = []
    related_ids = [_ref(item, "related_memory_ids", problems) for item in related]

    version = data.get("version")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_VERSION
    ):
        problems["version"] = f"Must be an integer from 0 to {MAX_VERSION}."
        version = None

    created_at = _timestamp(data.get("created_at"), "created_at", problems, required=True)
    updated_at = _timestamp(data.get("updated_at"), "updated_at", problems, required=False)
    embedding, embedding_model, embedding_dimensions = _embedding(data.get("embeddings"), problems)
    parent_id = _ref(data.get("parent_id"), "parent_id", problems)
    agent_id = _ref(data.get("agent_id"), "agent_id", problems)
    external_id = _ref(data.get("external_id"), "external_id", problems)
    if problems:
        raise errors.ValidationFailed.for_fields(problems, "The memory is not valid.")
    return MemoryFields(
        memory_id=memory_id,
        content=content,
        content_sha256=content_sha256(content),
        memory_type=memory_type,
        tags=tags,
        entities=entities,
        metadata=metadata,
        source=source,
        parent_id=parent_id,
        related_memory_ids=related_ids,
        agent_id=agent_id,
        external_id=external_id,
        version=version,
        created_at=created_at,
        updated_at=updated_at,
        embedding=embedding,
        embedding_model=embedding_model,
        embedding_dimensions=embedding_dimensions,
    )


def memory_find_duplicate(*, space, fields: MemoryFields) -> tuple[Memory, str] | None:
    """The stored memory this one duplicates (by id first, then by content), with which rule hit."""
    found = list(
        Memory.objects.filter(space=space)
        .filter(Q(memory_id=fields.memory_id) | Q(content_sha256=fields.content_sha256))
        .only("id", "memory_id", "content_sha256")[:2]
    )
    for memory in found:
        if memory.memory_id == fields.memory_id:
            return memory, "id"
    return (found[0], "content_sha256") if found else None


def _entity_names(entities: list) -> str:
    names = " ".join(e["name"] for e in entities if isinstance(e, dict) and isinstance(e.get("name"), str))
    return names[:MAX_ENTITY_SEARCH_CHARS]


def memory_title(metadata: dict) -> str:
    """The title search reads of a memory: ``metadata.title`` when it is a string (memory search
    shows it as the memory's title), its first ``MEMORY_TITLE_SEARCH_CHARS`` characters."""
    title = metadata.get("title")
    return title[:MEMORY_TITLE_SEARCH_CHARS] if isinstance(title, str) else ""


def search_texts(fields: MemoryFields) -> tuple[str, str, str, str]:
    """The texts of the search document, as sent, in its order: title A, content A, tags B,
    memory type and entity names C. ``search_document`` weighs them here, the MIF writer in its
    INSERT: both read them from here."""
    return (
        memory_title(fields.metadata),
        fields.content,
        " ".join(fields.tags),
        f"{fields.memory_type} {_entity_names(fields.entities)}",
    )


def search_document(fields: MemoryFields):
    """The weighted tsvector: title and content A, tags B, memory type and entity names C
    (``search_texts``).

    Made from the NFC form of those texts (``synchronex.text``), while the memory keeps them as
    sent: queries are NFC, so a memory written decomposed is found as one written composed. The
    title and the content are two documents joined, as the MIF writer joins them. Each text goes
    through ``sx_searchable`` (``spaceless.Searchable``): a run too long to be a word of a document
    (2,047 bytes: 683 Chinese characters without punctuation) is split into overlapping pieces,
    which the document keeps, instead of dropping it.
    """
    title, content, tags, described = search_texts(fields)
    return (
        SearchVector(Searchable(Value(nfc(title))), config=SEARCH_CONFIG, weight="A")
        + SearchVector(Searchable(Value(nfc(content))), config=SEARCH_CONFIG, weight="A")
        + SearchVector(Searchable(Value(nfc(tags))), config=SEARCH_CONFIG, weight="B")
        + SearchVector(Searchable(Value(nfc(described))), config=SEARCH_CONFIG, weight="C")
    )


def memory_create(*, space, data: dict) -> Memory:
    """Store one MIF memory in ``space``.

    Raises VALIDATION_ERROR for a bad memory and ``DuplicateMemory`` (a CONFLICT carrying the
    stored row) when the space already holds the same id or, failing that, the same content.
    A vector in ``embeddings`` is stored with its model and dimensions.
    """
    fields = memory_validate(data=data)
    duplicate = memory_find_duplicate(space=space, fields=fields)
    if duplicate is not None:
        raise DuplicateMemory(duplicate[0], by=duplicate[1])
    try:
        with transaction.atomic():
            memory = Memory.objects.create(
                space=space,
                raw=data,
                search=search_document(fields),
                **{name: getattr(fields, name) for name in MemoryFields.__dataclass_fields__},
            )
    except IntegrityError:
        # A concurrent writer stored the same memory between the check and the insert.
        duplicate = memory_find_duplicate(space=space, fields=fields)
        if duplicate is None:
            raise
        raise DuplicateMemory(duplicate[0], by=duplicate[1]) from None
    # The search document was computed by the database: drop the expression from the instance
    # so that the field reads back as deferred (loaded from the row if ever needed).
    del memory.search
    return memory
