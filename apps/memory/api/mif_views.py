"""``GET /memory/export-mif`` and ``POST /memory/import-mif`` (SPEC §8)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.memory.api.mif_parsers import MIF_PARSERS, MifBody
from apps.memory.api.mif_serializers import (
    Mem0ExportSerializer,
    Mem0MemorySerializer,
    MifDocumentSerializer,
    MifImportDocumentSerializer,
    MifImportResultSerializer,
    parse_export_params,
    parse_import_params,
)
from apps.memory.mif.common import EXPORT_TYPES
from apps.memory.mif.export import ExportOptions, StartedStream, mif_json_stream
from apps.memory.mif.importers import FORMATS, mif_import
from apps.memory.mif.markdown import markdown_stream
from synchronex.api.openapi import comma_separated
from synchronex.api.serializers import ErrorSerializer
from synchronex.api.views import ApiView

SCOPE_HEADER = OpenApiParameter(
    "X-Synchronex-Scope",
    type=str,
    location=OpenApiParameter.HEADER,
    response=True,
    description="The scope the export was made from.",
)
DISPOSITION_HEADER = OpenApiParameter(
    "Content-Disposition",
    type=str,
    location=OpenApiParameter.HEADER,
    response=True,
    description='attachment; filename="synchronex-<scope>-<YYYY-MM-DD>.mif.json" (".md" for Markdown).',
)
EXPORT_DESCRIPTION = (
    "The active scope as one MIF v2 document, streamed (memory use stays flat however large the scope). "
    "Maximum-compatibility profile: `generator`, a full `export_meta` (id, created_at, user_id, "
    "`checksum` = `sha256:` + SHA-256 of the `memories` array canonicalised per RFC 8785, the JSON "
    "Canonicalization Scheme (JCS): keys in UTF-16 order, no whitespace, numbers as ECMAScript writes them, "
    "UTF-8 — and `privacy`), `memory_type` on every memory, canonical UUIDs, "
    "string `metadata` values, `source.agent` and `source.agent_name`. The kernel layer of the scope is a "
    "`context` memory tagged `identity-kernel`, each product state a `context` memory tagged "
    "`product-state`, each decision a `decision` memory (decisions only for tokens with "
    "`decisions:read`), generic memories as they were imported. Each memory's full data sits in its "
    "`vendor_extensions.synchronex`, so importing the file into an empty scope and exporting again gives "
    "the same memories. BYOK secrets are never exported: one that occurs in exported text is replaced by "
    "`[REDACTED:api_key]` and listed in `export_meta.privacy.redacted_fields`. `format=markdown` gives a "
    "readable Markdown document of the same rows instead, whose headings and list markers are its own: a "
    "stored text's line that starts a line gets a backslash before a leading Markdown mark (`\\# x`) and its "
    "further lines are indented, as in the kernel export, so no stored text opens a heading, list item, fence "
    "or section."
)
IMPORT_DESCRIPTION = (
    "Imports a MIF v2 document, a mem0 export (JSON array of `{id, memory, metadata, created_at, …}`, or "
    '`{"results": [...], "relations": [...]}`) or the MCP memory server\'s JSONL (`{"type": '
    '"entity"|"relation", …}` per line; send it as `application/x-ndjson`, `application/jsonl`, '
    "`application/x-jsonlines` or `text/plain`), detected from the body or chosen with `format`; with `format` "
    "left at auto, a body sent as one of the three JSONL media types is read as JSONL. Body limit 25 MiB. "
    "Problems with the "
    "document itself (empty, not JSON, no `memories`, a `mif_version` other than 2.x, `memories` not an "
    "array) are a VALIDATION_ERROR and nothing is written; a bad item is reported in `errors` and the "
    "others are imported. Original ids are kept (a restored decision, product state or kernel gets its own "
    "id, derived from the scope and the original id only, whatever other scopes hold, and the original id "
    "still names it in this scope); an item already in the scope (same id, or for generic "
    "memories the same content SHA-256) is counted in `duplicates_skipped`, so importing the same file "
    "again changes nothing. Synchronex's own `vendor_extensions.synchronex` data restores decisions "
    "(needs `decisions:write`), product states and the kernel layer (only into a scope without one); "
    "every other item becomes a generic memory, searchable with `/memory/search` and exported back "
    "unchanged. Graph data (a mem0 export's `relations`, a MIF `knowledge_graph`) becomes memories, each "
    "relationship a `relation` memory; parts of the document the import does not read are named in "
    "`not_imported`. `dry_run=true` reports without writing: the report the import itself would give. "
    "`warnings` lists items imported with something left out (a decision whose `supersedes` target is not "
    "in the scope yet: the link is made when it is imported), and the product names of an earlier release's "
    "export read under today's name rule, as migration products.0004 read stored names (`Right\\u202eLeft` "
    "as `RightLeft`; `Acme\\u200b` as `Acme (2)` beside another product `Acme`, its decisions following it). "
    "The import commits in parts: a scope deleted while it runs stops it with NOT_FOUND, and what it had "
    "stored goes with the scope."
)
IMPORT_BODY = PolymorphicProxySerializer(
    component_name="MifImportJsonBody",
    serializers=[MifImportDocumentSerializer, Mem0MemorySerializer(many=True), Mem0ExportSerializer],
    resource_type_field_name=None,
    many=False,
)
JSONL_BODY = {
    "type": "string",
    "description": 'MCP memory JSONL: one {"type": "entity", "name", "entityType", "observations"} or '
    '{"type": "relation", "from", "to", "relationType"} object per line.',
}


class _FormatOptionView(ApiView):
    def perform_content_negotiation(self, request, force=False):
        # ``format`` is this route's own option, not DRF's renderer override; errors stay JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type


class MifExportView(_FormatOptionView):
    """Stream the active scope as a MIF v2 document (or Markdown)."""

    required_scopes = {"GET": "memory:read"}

    @extend_schema(
        tags=["mif"],
        summary="Export memory as MIF v2",
        description=EXPORT_DESCRIPTION,
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "markdown"], description="Default json."),
            OpenApiParameter(
                "include_embeddings",
                OpenApiTypes.BOOL,
                description="true adds each stored vector as `embeddings` (default false).",
            ),
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="Only rows created or changed at or after this instant (ISO 8601 date or date-time, "
                "within the years 1 to 9999 in UTC): decisions by created_at, product states and the kernel by "
                "updated_at, generic memories by created_at or updated_at.",
            ),
            comma_separated(
                "types",
                {"type": "string", "enum": list(EXPORT_TYPES)},
                f"Comma-separated subset of {', '.join(EXPORT_TYPES)} (default: all).",
            ),
            SCOPE_HEADER,
            DISPOSITION_HEADER,
        ],
        responses={
            (200, "application/json"): OpenApiResponse(MifDocumentSerializer, description="The MIF v2 document."),
            (200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, description="The Markdown document."),
        },
    )
    def get(self, request):
        params = parse_export_params(request.query_params)
        active = self.active
        options = ExportOptions(
            space=active.space,
            scope=active.scope,
            user_id=str(request.user.pk),
            types=params["types"],
            since=params["since"],
            include_embeddings=params["include_embeddings"],
            decisions_allowed=request.auth.allows("decisions:read"),
        )
        day = timezone.now().strftime("%Y-%m-%d")
        # Started here, before the response exists: what fails before the first chunk (reading
        # the BYOK secrets, the first query) is the JSON error envelope, not the server's 500 page.
        if params["format"] == "markdown":
            stream = StartedStream(markdown_stream(options))
            response = StreamingHttpResponse(stream, content_type="text/markdown; charset=utf-8")
            filename = f"synchronex-{active.scope}-{day}.md"
        else:
            response = StreamingHttpResponse(StartedStream(mif_json_stream(options)), content_type="application/json")
            filename = f"synchronex-{active.scope}-{day}.mif.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Synchronex-Scope"] = active.scope
        return response


class MifImportView(_FormatOptionView):
    """Import MIF v2, mem0 or MCP memory JSONL into the active scope."""

    required_scopes = {"POST": "memory:write"}
    parser_classes = MIF_PARSERS

    @extend_schema(
        tags=["mif"],
        summary="Import memory (MIF v2, mem0, MCP memory JSONL)",
        description=IMPORT_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=list(FORMATS), description="Default auto (detected from the body)."
            ),
            OpenApiParameter("dry_run", OpenApiTypes.BOOL, description="true: report only, write nothing."),
        ],
        request={
            "application/json": IMPORT_BODY,
            "application/x-ndjson": JSONL_BODY,
            "application/jsonl": JSONL_BODY,
            "application/x-jsonlines": JSONL_BODY,
            "text/plain": {"type": "string", "description": "Any of the three formats as text."},
        },
        responses={
            200: MifImportResultSerializer,
            413: OpenApiResponse(ErrorSerializer, description="The body is over 25 MiB (PAYLOAD_TOO_LARGE)."),
            415: OpenApiResponse(
                ErrorSerializer,
                description="Content-Type other than JSON, JSONL or text (UNSUPPORTED_MEDIA_TYPE).",
            ),
        },
    )
    def post(self, request):
        params = parse_import_params(request.query_params)
        active = self.writable_space()
        body = request.data if isinstance(request.data, MifBody) else MifBody("", "")
        report = mif_import(
            space=active.space,
            text=body.text,
            fmt=body.format_for(params["format"]),
            dry_run=params["dry_run"],
            decisions_allowed=request.auth.allows("decisions:write"),
            actor=request.auth.actor,
            actor_user=request.user,
        )
        return Response(MifImportResultSerializer({**vars(report), "scope": active.scope}).data)
