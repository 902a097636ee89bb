"""MIF export/import: strict query parameters, the import report, and the shapes of the MIF
document for the OpenAPI description (SPEC §8)."""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.decisions.api.serializers import parse_instant
from apps.memory.mif.common import EXPORT_TYPES
from apps.memory.mif.importers import FORMATS, SUPPORTED_VERSION
from apps.memory.services import (
    MAX_CONTENT_CHARS,
    MAX_EMBEDDING_DIMENSIONS,
    MAX_MEMORY_TYPE_CHARS,
    MAX_REF_CHARS,
    MAX_RELATED_IDS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_VECTOR_COMPONENT,
    MAX_VERSION,
)
from synchronex.api import errors
from synchronex.api.serializers import query_boolean, query_name_problems, types_problem

EXPORT_PARAMS = ("format", "include_embeddings", "since", "types")
IMPORT_PARAMS = ("format", "dry_run")
EXPORT_FORMATS = ("json", "markdown")
_DATE_HINT = "Use an ISO 8601 date (2026-05-03) or date-time (2026-05-03T12:00:00Z)."


def parse_since(raw: str) -> tuple[datetime | None, str | None]:
    """The export's ``since`` as a UTC moment, or why it is refused. A moment outside the years
    1 to 9999 in UTC (``0001-01-01T00:00:00+14:00``) parses but no date-time can hold it: refused
    here, where it would otherwise overflow once the export had begun. The REST route and the MCP
    tool share this rule."""
    parsed = parse_instant(raw)
    if parsed is None:
        return None, _DATE_HINT
    try:
        return parsed[0].astimezone(UTC), None
    except OverflowError:
        return None, "Must fall within the years 1 to 9999 in UTC."


def parse_export_params(query) -> dict:
    """``format``, ``include_embeddings``, ``since`` and ``types`` of the export, strictly: values
    are compared exactly, as their OpenAPI enums, the kernel export and the MCP tools compare them
    (``format=JSON`` is a VALIDATION_ERROR on every export)."""
    problems = query_name_problems(query, EXPORT_PARAMS)
    out: dict = {"format": "json", "include_embeddings": False, "since": None, "types": EXPORT_TYPES}
    fmt = query.get("format")
    if fmt is not None:
        if fmt not in EXPORT_FORMATS:
            problems["format"] = f"Use one of: {', '.join(EXPORT_FORMATS)}."
        out["format"] = fmt
    raw = query.get("include_embeddings")
    if raw is not None:
        value = query_boolean(raw)
        if value is None:
            problems["include_embeddings"] = "Use true or false."
        out["include_embeddings"] = bool(value)
    raw = query.get("since")
    if raw is not None:
        out["since"], problem = parse_since(raw)
        if problem:
            problems["since"] = problem
    raw = query.get("types")
    if raw is not None:
        names = [part.strip() for part in raw.split(",")]
        if any(not name for name in names):
            problems["types"] = "Give a comma-separated list of types without empty entries."
        elif problem := types_problem(names, EXPORT_TYPES):
            problems["types"] = problem
        out["types"] = tuple(name for name in EXPORT_TYPES if name in names)
    if problems:
        raise errors.ValidationFailed.for_query(problems)
    return out


def parse_import_params(query) -> dict:
    """``format`` (auto, mif, mem0, mcp-jsonl) and ``dry_run`` of the import, strictly (compared
    exactly, as the export's)."""
    problems = query_name_problems(query, IMPORT_PARAMS)
    out = {"format": "auto", "dry_run": False}
    fmt = query.get("format")
    if fmt is not None:
        if fmt not in FORMATS:
            problems["format"] = f"Use one of: {', '.join(FORMATS)}."
        out["format"] = fmt
    raw = query.get("dry_run")
    if raw is not None:
        value = query_boolean(raw)
        if value is None:
            problems["dry_run"] = "Use true or false."
        out["dry_run"] = bool(value)
    if problems:
        raise errors.ValidationFailed.for_query(problems)
    return out


# -- the import report -----------------------------------------------------------------------------
class MifImportErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(
        help_text="Position of the item: memories[index] (MIF), the array index (mem0), the 0-based line (JSONL). "
        "Graph items are numbered after those: a MIF knowledge_graph's entities, then its relationships; a mem0 "
        "export's relations."
    )
    id = serializers.CharField(allow_null=True, help_text="The item's id as the document gave it, if any.")
    message = serializers.CharField(help_text="Why the item was not imported.")


class MifImportWarningSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item, as in errors.")
    id = serializers.CharField(allow_null=True, help_text="The item's id as the document gave it, if any.")
    message = serializers.CharField(
        help_text="What of the item was not imported, or was read otherwise (a product name of an earlier "
        "release), and what happens to it."
    )


class MifImportResultSerializer(serializers.Serializer):
    memories_imported = serializers.IntegerField(help_text="Generic memories stored (would be, with dry_run).")
    decisions_imported = serializers.IntegerField(help_text="Decisions restored from Synchronex data.")
    products_imported = serializers.IntegerField(help_text="Product states restored from Synchronex data.")
    kernel_imported = serializers.BooleanField(help_text="Whether the Identity Kernel layer was restored.")
    duplicates_skipped = serializers.IntegerField(
        help_text="Items already in the scope (same id; for generic memories also the same content)."
    )
    errors = MifImportErrorSerializer(many=True, help_text="Items not imported (at most 1,000 listed).")
    errors_total = serializers.IntegerField(help_text="All items not imported, listed or not.")
    warnings = MifImportWarningSerializer(
        many=True,
        help_text="Items imported (or found already here) with something left out, at most 1,000 listed; they "
        "are not in errors: a decision whose `supersedes` names a decision not in the scope, imported without "
        "the link until that decision is imported; a link to an arriving decision that the rules forbid (a "
        "decision superseded twice, a cycle).",
    )
    not_imported = serializers.ListField(
        child=serializers.CharField(),
        help_text="Parts of the document besides its memories and graph that the import does not read, as "
        "paths (at most 1,000): other systems' document-level `vendor_extensions.<name>`, unknown top-level "
        "fields, `knowledge_graph.<key>` other than entities and relationships, such a part of the wrong shape. "
        "Empty when everything was read (`generator` and `export_meta` only describe the file).",
    )
    dry_run = serializers.BooleanField(help_text="True when nothing was written.")
    format = serializers.ChoiceField(choices=[f for f in FORMATS if f != "auto"], help_text="The format read.")
    scope = serializers.CharField(help_text="The scope the items were imported into.")


# -- the MIF v2 document (for the schema) ----------------------------------------------------------
class MifEntitySerializer(serializers.Serializer):
    name = serializers.CharField()
    entity_type = serializers.CharField(required=False)
    confidence = serializers.FloatField(required=False, min_value=0, max_value=1)


class MifEmbeddingsSerializer(serializers.Serializer):
    model = serializers.CharField()
    dimensions = serializers.IntegerField(min_value=1)
    vector = serializers.ListField(child=serializers.FloatField())
    normalized = serializers.BooleanField(required=False)


class MifSourceSerializer(serializers.Serializer):
    source_type = serializers.CharField(required=False)
    session_id = serializers.CharField(required=False)
    agent = serializers.CharField(required=False, help_text="Always written next to agent_name on export.")
    agent_name = serializers.CharField(required=False)


class MifMemorySerializer(serializers.Serializer):
    """One MIF v2 memory. Unknown fields are allowed and kept."""

    id = serializers.UUIDField()
    content = serializers.CharField()
    created_at = serializers.DateTimeField()
    memory_type = serializers.CharField(
        required=False, help_text="decision, context (product-state, identity-kernel), observation, … (open list)."
    )
    updated_at = serializers.DateTimeField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    entities = MifEntitySerializer(many=True, required=False)
    metadata = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="String values on export (an import also takes other JSON values and keeps them).",
    )
    embeddings = MifEmbeddingsSerializer(required=False, help_text="Only with include_embeddings=true.")
    source = MifSourceSerializer(required=False)
    parent_id = serializers.UUIDField(required=False, allow_null=True)
    related_memory_ids = serializers.ListField(child=serializers.UUIDField(), required=False)
    agent_id = serializers.CharField(required=False, allow_null=True)
    external_id = serializers.CharField(required=False, allow_null=True)
    version = serializers.IntegerField(required=False, min_value=1)
    vendor_extensions = serializers.DictField(
        required=False,
        help_text="Per-system data. `synchronex`: `{kind: identity_kernel|product_state|decision, data: {…}}` "
        "with the full row, or `{kind: memory, restore: {original, added, written}}` undoing the export's "
        "compatibility changes to a generic memory, each only while the field still holds what the export wrote "
        "(`written`: its fingerprint), so edits to the file are kept.",
    )


class MifGeneratorSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()


class MifPrivacySerializer(serializers.Serializer):
    pii_detected = serializers.BooleanField(
        help_text="True when an e-mail address was seen or a secret was redacted (a best-effort scan)."
    )
    redacted_fields = serializers.ListField(
        child=serializers.CharField(), help_text='Categories replaced by "[REDACTED:<category>]": api_key.'
    )


class MifExportMetaSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    user_id = serializers.UUIDField(help_text="The exporting user.")
    checksum = serializers.CharField(
        help_text='"sha256:<hex>" of the `memories` array canonicalised per RFC 8785 (JSON Canonicalization '
        "Scheme), in UTF-8: every memory with its vendor extensions, nothing else. Any JCS library "
        "reproduces it; the exported text of `memories` is already in that form."
    )
    checksum_covers = serializers.CharField(help_text="What the checksum covers and how, in words.")
    memory_count = serializers.IntegerField()
    privacy = MifPrivacySerializer()


class MifDocumentSerializer(serializers.Serializer):
    """A MIF v2 document as this service exports it (the import also takes any MIF 2.x document)."""

    mif_version = serializers.CharField(help_text='"2.0" on export; any "2.x" on import.')
    generator = MifGeneratorSerializer(required=False)
    memories = MifMemorySerializer(many=True)
    vendor_extensions = serializers.DictField(
        required=False, help_text="`synchronex`: format, scope, types, counts of the export."
    )
    export_meta = MifExportMetaSerializer(required=False)


# -- the import body (for the schema) --------------------------------------------------------------
# What the import takes, which is more than the export writes (SPEC §8): what the export always
# writes is optional here, values are typed only as far as the import checks them, and unknown
# fields are allowed at every level. A memory that breaks a rule does not fail the request: it
# is reported in ``errors`` and the others are imported.
@extend_schema_field(
    {
        "type": ["string", "integer", "null"],
        "maxLength": MAX_REF_CHARS,
        "description": "An identifier from another system (a number is kept as text).",
    }
)
class ReferenceField(serializers.JSONField):
    pass


class MifImportEmbeddingsSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, max_length=200, help_text="Required with a vector.")
    dimensions = serializers.IntegerField(required=False, allow_null=True, help_text="When given, the vector's length.")
    vector = serializers.ListField(
        child=serializers.FloatField(min_value=-MAX_VECTOR_COMPONENT, max_value=MAX_VECTOR_COMPONENT),
        min_length=1,
        max_length=MAX_EMBEDDING_DIMENSIONS,
        required=False,
        allow_null=True,
        help_text="Stored with its model and searchable by meaning when the scope's model is the same.",
    )
    normalized = serializers.JSONField(required=False, help_text="A boolean; not read.")


class MifImportSourceSerializer(serializers.Serializer):
    source_type = serializers.JSONField(required=False)
    session_id = serializers.JSONField(required=False)
    agent = serializers.JSONField(required=False)
    agent_name = serializers.JSONField(required=False)


class MifImportMemorySerializer(serializers.Serializer):
    """One memory of an imported MIF v2 document. Unknown fields are allowed and kept."""

    id = serializers.UUIDField()
    content = serializers.CharField(max_length=MAX_CONTENT_CHARS, help_text="Non-blank text.")
    created_at = serializers.DateTimeField()
    memory_type = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=MAX_MEMORY_TYPE_CHARS, help_text="Open list."
    )
    updated_at = serializers.DateTimeField(required=False, allow_null=True)
    tags = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=MAX_TAG_CHARS),
        max_length=MAX_TAGS,
        required=False,
        allow_null=True,
    )
    entities = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        allow_null=True,
        help_text="{name, entity_type, confidence} objects; their names are searchable. Other items are kept.",
    )
    metadata = serializers.DictField(
        child=serializers.JSONField(), required=False, allow_null=True, help_text="Any JSON values, kept as given."
    )
    embeddings = MifImportEmbeddingsSerializer(required=False, allow_null=True)
    source = MifImportSourceSerializer(required=False, allow_null=True)
    parent_id = ReferenceField(required=False)
    related_memory_ids = serializers.ListField(
        child=ReferenceField(), max_length=MAX_RELATED_IDS, required=False, allow_null=True
    )
    agent_id = ReferenceField(required=False)
    external_id = ReferenceField(required=False)
    version = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_VERSION)
    vendor_extensions = serializers.JSONField(
        required=False,
        help_text="Per-system data, kept. `synchronex` data (as exported) restores decisions, product states "
        "and the kernel layer.",
    )


class MifImportDocumentSerializer(serializers.Serializer):
    """A MIF 2.x document to import. A memory holding NUL, a lone UTF-16 surrogate or a number
    beyond a double's range is reported in `errors` (the database can store none of them)."""

    mif_version = serializers.RegexField(SUPPORTED_VERSION, help_text='"2.0", or any other "2.x".')
    generator = serializers.JSONField(
        required=False,
        help_text="{name, version} of the exporting tool; `name` is the agent of the memories made from "
        "`knowledge_graph`.",
    )
    memories = MifImportMemorySerializer(many=True)
    knowledge_graph = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="{entities: [{id, name, types, summary, …}], relationships: [{id, source_entity_id, "
        "target_entity_id, relation_type, …}]}. Synchronex keeps no graph: each relationship becomes a `relation` "
        'memory ("Alice works at Acme"), each entity a memory ("Acme: <summary>", or "Alice (person)"), each with '
        "its record under `vendor_extensions.mif-knowledge-graph`; the export gives them back as memories. Other "
        "keys are named in the report's `not_imported`.",
    )
    vendor_extensions = serializers.JSONField(
        required=False,
        help_text="`synchronex`: not read (it describes the export). Other systems' document-level extensions are "
        "not imported: the report names them in `not_imported`.",
    )
    export_meta = serializers.JSONField(
        required=False,
        help_text="{id, created_at, user_id, checksum, privacy}: optional, and not read (each memory is "
        "checked on its own).",
    )


class Mem0MemorySerializer(serializers.Serializer):
    """One item of a mem0 export (other fields are kept under vendor_extensions.mem0)."""

    id = ReferenceField(required=False)
    memory = serializers.CharField(help_text="Non-blank text.")
    metadata = serializers.DictField(required=False, allow_null=True)
    categories = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    created_at = serializers.DateTimeField(required=False, allow_null=True)
    updated_at = serializers.DateTimeField(required=False, allow_null=True)
    user_id = serializers.JSONField(required=False)
    agent_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class Mem0RelationSerializer(serializers.Serializer):
    """One relation of mem0's graph: imported as a `relation` memory ("alice works at acme"), the
    record kept under vendor_extensions.mem0."""

    source = serializers.CharField(help_text="Non-blank text.")
    source_type = serializers.CharField(required=False, help_text="The source's entity type.")
    relationship = serializers.CharField(help_text="Non-blank text; `_` reads as a space.")
    target = serializers.CharField(required=False, help_text="Non-blank text (or `destination`).")
    destination = serializers.CharField(required=False, help_text="The target, as mem0's search names it.")
    target_type = serializers.CharField(required=False, help_text="The target's entity type.")


class Mem0ExportSerializer(serializers.Serializer):
    """mem0's `get_all` answer: its memories and, with graph memory, its relations. Other fields are
    named in the report's `not_imported`."""

    results = Mem0MemorySerializer(many=True)
    relations = Mem0RelationSerializer(many=True, required=False, allow_null=True)
