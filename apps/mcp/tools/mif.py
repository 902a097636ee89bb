"""MIF tools: export_memories, import_memories (the REST routes' services, the same rules).

A tool result is one JSON-RPC response, not a stream: an export larger than
``EXPORT_MAX_BYTES`` is refused (PAYLOAD_TOO_LARGE, as a tool error) with a pointer to the
streamed REST export; an import is bounded by the request body limit of ``/mcp`` (1 MiB).
"""

from __future__ import annotations

import json

from django.utils import timezone

from apps.memory.api.mif_serializers import EXPORT_FORMATS, MifImportResultSerializer, parse_since
from apps.memory.mif.common import EXPORT_TYPES
from apps.memory.mif.export import ExportOptions, mif_json_stream
from apps.memory.mif.importers import FORMATS, mif_import
from apps.memory.mif.markdown import markdown_stream
from synchronex.api import errors

from .registry import ToolContext, tool

EXPORT_MAX_BYTES = 8 * 1024 * 1024


def _collect(chunks) -> bytes:
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) > EXPORT_MAX_BYTES:
            raise errors.PayloadTooLarge(
                f"The export is over {EXPORT_MAX_BYTES} bytes, too large for one MCP result: narrow it with "
                "types or since, or download it from GET /api/v1/memory/export-mif (streamed)."
            )
    return bytes(out)


@tool(
    "export_memories",
    title="Export memory as MIF v2",
    description=(
        "The active scope's memory as a MIF v2 document (the Memory Interchange Format other memory systems "
        "read): the Identity Kernel, product states, decisions (when the token may read them) and imported "
        "memories, each with its full data under vendor_extensions.synchronex. format=markdown gives a "
        "readable document instead. BYOK secrets are never exported."
    ),
    scope="memory:read",
    read_only=True,
    idempotent=True,
    redacts_itself=True,  # export_scrubber: the keys ToolContext.scrub redacts
    schema={
        "properties": {
            "format": {"type": "string", "enum": list(EXPORT_FORMATS), "default": "json"},
            "types": {
                "type": "array",
                "items": {"type": "string", "enum": list(EXPORT_TYPES)},
                "minItems": 1,  # no uniqueItems: a repeated kind is one kind, as in REST's ?types=
                "description": "Which kinds to include (default: all).",
            },
            "since": {
                "type": "string",
                "maxLength": 40,
                "description": "Only rows created or changed at or after this ISO 8601 date or date-time.",
            },
            "include_embeddings": {"type": "boolean", "default": False},
        }
    },
)
def export_memories(context: ToolContext, args: dict) -> dict:
    since = None
    if "since" in args:
        since, problem = parse_since(args["since"])
        if problem:
            raise errors.ValidationFailed.for_fields({"since": problem})
    active = context.active
    wanted = args.get("types") or EXPORT_TYPES
    options = ExportOptions(
        space=active.space,
        scope=active.scope,
        user_id=str(context.user.pk),
        types=tuple(name for name in EXPORT_TYPES if name in wanted),
        since=since,
        include_embeddings=args.get("include_embeddings", False),
        decisions_allowed=context.allows("decisions:read"),
    )
    day = timezone.now().strftime("%Y-%m-%d")
    if args.get("format", "json") == "markdown":
        content = _collect(markdown_stream(options)).decode("utf-8")
        return {
            "format": "markdown",
            "filename": f"synchronex-{active.scope}-{day}.md",
            "content": content,
            "scope": active.scope,
        }
    document = json.loads(_collect(mif_json_stream(options)))
    return {
        "format": "json",
        "filename": f"synchronex-{active.scope}-{day}.mif.json",
        "document": document,
        "scope": active.scope,
    }


@tool(
    "import_memories",
    title="Import memory (MIF v2, mem0, MCP memory JSONL)",
    description=(
        "Import a MIF v2 document, a mem0 export or the MCP memory server's JSONL (as a string) into the active "
        "scope. Original ids are kept and re-importing changes nothing; a bad item is reported in errors and the "
        "others are imported. Decisions need decisions:write. dry_run reports without writing."
    ),
    scope="memory:write",
    read_only=False,
    idempotent=True,
    checked_per_item=("document",),
    schema={
        "properties": {
            "document": {
                "type": ["object", "array", "string"],
                "description": "The MIF v2 document (object), a mem0 export (array) or JSONL text (string).",
            },
            "format": {"type": "string", "enum": list(FORMATS), "default": "auto"},
            "dry_run": {"type": "boolean", "default": False},
        },
        "required": ["document"],
    },
)
def import_memories(context: ToolContext, args: dict) -> dict:
    active = context.writable()
    document = args["document"]
    text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)
    try:
        report = mif_import(
            space=active.space,
            text=text,
            fmt=args.get("format", "auto"),
            dry_run=args.get("dry_run", False),
            decisions_allowed=context.allows("decisions:write"),
            actor=context.credential.actor,
            actor_user=context.user,
        )
    except errors.ValidationFailed as exc:
        raise errors.ValidationFailed.for_fields({"document": exc.message}, exc.message) from None
    return dict(MifImportResultSerializer({**vars(report), "scope": active.scope}).data)
