"""Identity Kernel endpoints (SPEC §4)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.identity import selectors, services
from apps.identity.api.serializers import (
    KernelExportBodySerializer,
    KernelExportQuerySerializer,
    KernelExportSerializer,
    KernelRevisionPageSerializer,
    KernelRevisionSerializer,
    KernelSerializer,
    KernelWriteSerializer,
    KernelWrittenSerializer,
    kernel_body,
    kernel_write_body,
)
from apps.identity.export import kernel_export_build, kernel_redacted
from apps.memory.mif.export import reader_scrubber
from synchronex.api import errors, stamps
from synchronex.api.openapi import FALLBACK_NOTE
from synchronex.api.pagination import PAGE_PARAMETERS, Page
from synchronex.api.preconditions import refuse_after_fallback
from synchronex.api.serializers import ErrorSerializer, query_name_problems
from synchronex.api.views import ApiView

JSON = JSONRenderer.media_type
ETAG_HEADER = OpenApiParameter(
    "ETag",
    type=str,
    location=OpenApiParameter.HEADER,
    response=True,
    description='The version, quoted: "3" (in a workspace scope, the workspace layer\'s version), for `If-Match`. '
    "It is not a cache validator: the body also changes without it (your personal layer under a workspace's, "
    "a block rendered again), so a GET does not evaluate `If-None-Match` (it always answers 200 with the body; "
    'a safe first PUT sends `If-Match: "0"` or `If-None-Match: *`).',
)
KERNEL_DESCRIPTION = (
    "The effective Identity Kernel of the active scope with its injection block (at most 500 "
    "o200k_base tokens; `truncated` is true when lower-priority lines were dropped). A space that "
    "never wrote its kernel answers 200 with every section null, `version: 0`, `updated_at: null` "
    "and an empty block. The `ETag` header carries the version.\n\n"
    "The injection block, made to be pasted into a prompt, has the scope's BYOK keys (in a workspace "
    "scope, every member's personal keys too) replaced by `[REDACTED:api_key]` wherever one was pasted, and "
    "`injection_tokens`/`truncated` describe that block; the sections themselves are your data as "
    "stored, verbatim, so a GET→PUT round trip never writes the marker back.\n\n"
    "**Workspace scopes** (team, agency): the effective kernel is your personal layer with the "
    "workspace layer on top. Identity fields, `communication_style` and each `model_preferences` key "
    "come from the workspace layer when set there, else from your personal layer; `constraints.always` "
    "and `constraints.never` accumulate (personal items first, then the workspace's, duplicates "
    "removed); `products` come from the workspace layer if it has any, else from your personal layer. "
    "Each member sees their own personal layer underneath, never another member's. There `version`, "
    "the `ETag` and `If-Match` refer to the **workspace layer** (the layer a PUT in that scope writes; "
    "0 before its first write), while `updated_at` is when either layer last changed.\n\n"
    "**Read-modify-write in a workspace scope starts from `GET /memory/identity?layer=own`**: the "
    "workspace layer alone, the resource a PUT there replaces section by section, with its own "
    "`version` and `ETag`. The effective kernel (the default, of GET and of PUT's answer) merges your "
    "personal layer in, so a section read from it and written back copies your personal items into the "
    "layer every member reads. `PUT /memory/identity?layer=own` writes the same layer (a PUT always "
    "writes the active scope's own layer) and answers that layer alone, so a client that edits again "
    "from PUT's answer stays on it. In the personal scope `own` and `effective` answer the same."
)
LAYERS = ("effective", "own")


def _layer_parameter(description: str) -> OpenApiParameter:
    return OpenApiParameter(
        "layer",
        {"type": "string", "enum": list(LAYERS), "default": "effective"},
        OpenApiParameter.QUERY,
        required=False,
        description=description,
    )


LAYER_PARAMETER = _layer_parameter(
    "`effective` (default): the kernel as it applies in the active scope (in a workspace "
    "scope, your personal layer under the workspace layer). `own`: the active scope's own layer alone, in "
    "the same shape, with that layer's sections, injection block, `version`, `ETag` and `updated_at` (in a "
    "workspace scope the workspace layer, never anyone's personal layer; in the personal scope the same as "
    "`effective`): the base of a read-modify-write. Any other value, or an unknown or repeated query "
    "parameter, is a VALIDATION_ERROR naming it.",
)
PUT_LAYER_PARAMETER = _layer_parameter(
    "Only which kernel the answer holds: the write always goes to the active scope's own layer. "
    "`effective` (default): the kernel as it applies in the active scope after the write. `own`: the layer "
    "just written alone, as `GET ?layer=own` answers it, to edit again from (in the personal scope the same "
    "as `effective`). Any other value, or an unknown or repeated query parameter, is a VALIDATION_ERROR "
    "naming it, and nothing is written. A token without `memory:read` is answered what it wrote either way.",
)
WRITE_ONLY_NOTE = (
    "\n\nAn OAuth token with `memory:write` but not `memory:read` is answered only `version`, `updated_at`, "
    "`scope` and the sections its body sent, as the written layer stores them (e.g. trimmed; in a workspace "
    "scope the workspace layer alone, not the effective kernel), and no injection block: a write must not "
    "read the rest of the kernel. The `ETag` is the same."
)
WRITE_RESULT = PolymorphicProxySerializer(
    component_name="KernelWriteResult",
    serializers=[KernelSerializer, KernelWrittenSerializer],
    resource_type_field_name=None,
)


def _block_redacted(effective: selectors.EffectiveKernel, active) -> selectors.EffectiveKernel:
    """The kernel as the identity routes answer it: the sections verbatim (the caller's own data:
    a GET→PUT round trip must store them back as written, never a marker), the injection block —
    derived, and only ever pasted into a prompt — without the scope's BYOK keys. One statement,
    when the body is built: the read's body is remembered, and a BYOK write renews the stamp."""
    return kernel_redacted(effective, reader_scrubber(active.space), sections=False)


def _kernel_response(effective: selectors.EffectiveKernel, active) -> Response:
    body = kernel_body(_block_redacted(effective, active), active.scope)
    return Response(body, headers={"ETag": services.etag_for(effective.version)})


def _kernel_read(request, active, own: bool) -> selectors.EffectiveKernel:
    """The kernel the identity read answers: the effective kernel, or with ``own`` the workspace
    layer alone (``?layer=own``)."""
    if own:
        return selectors.kernel_own(space=active.space)
    return selectors.kernel_for_request(request, active.space)


def _kernel_content(request, active, own: bool) -> tuple[bytes, str]:
    """The identity read's JSON body, rendered as DRF renders it, and its ETag."""
    effective = _block_redacted(_kernel_read(request, active, own), active)
    content = JSONRenderer().render(kernel_body(effective, active.scope), JSON)
    return content, services.etag_for(effective.version)


def _layer(query) -> str:
    """The ``layer`` option of the identity read and of PUT's answer (``LAYER_PARAMETER``,
    ``PUT_LAYER_PARAMETER``), else VALIDATION_ERROR naming each problem of the query: a misspelt
    ``?layer=ownn`` must not answer the merged kernel that a read-modify-write would copy into the
    workspace layer (a PUT checks it before it writes)."""
    problems = query_name_problems(query, ("layer",))
    layer = query.get("layer", LAYERS[0])
    if "layer" not in problems and layer not in LAYERS:
        problems["layer"] = f"Use one of: {', '.join(LAYERS)}."
    if problems:
        raise errors.ValidationFailed.for_query(problems)
    return layer


class KernelView(ApiView):
    """``GET``/``PUT /memory/identity``.

    GET of a space without a kernel yet answers 200 with an empty kernel (all sections null),
    ``version: 0``, ``updated_at: null`` and an empty block, so clients need no special case;
    the first PUT may send ``If-Match: "0"`` or ``If-None-Match: *``. PUT replaces each section
    present in the body (``null`` clears it) and leaves the others alone. With ``If-Match``
    (quoted or bare version, or ``*``) a stale write is PRECONDITION_FAILED, and so is one over a
    version ``If-None-Match`` names; without them the last writer wins.

    In a workspace scope GET (and PUT's response) is the effective kernel: the caller's personal
    layer with the workspace layer on top (SPEC §3). PUT writes only the active scope's own layer
    (viewers: FORBIDDEN), so ``version``, ``ETag`` and ``If-Match`` there are the workspace
    layer's version; a change to the caller's personal layer changes the effective kernel and its
    ``updated_at`` but not that version. ``?layer=own`` (GET, and PUT's answer) answers that layer
    alone: a section read from the effective kernel and written back would copy the caller's
    personal items into the layer every member reads (SPEC §3: nothing personal reaches other members).

    SPEC §4's "PUT answers the effective kernel" assumes write implies read, as it does for API
    keys. A credential without ``memory:read`` (an OAuth token granted only ``memory:write``) is
    answered only what it wrote (``kernel_write_body``), as product state writes are: the
    effective kernel and its block would read the sections it did not send and, in a workspace,
    the layer other members wrote.
    """

    required_scopes = {"GET": "memory:read", "PUT": "memory:write"}
    versioned = frozenset({"PUT"})

    @extend_schema(
        tags=["identity"],
        summary="Get the Identity Kernel",
        description=KERNEL_DESCRIPTION,
        responses={200: KernelSerializer},
        parameters=[LAYER_PARAMETER, ETAG_HEADER],
    )
    def get(self, request):
        """The body is remembered, rendered, with the kernel (``synchronex/api/stamps.py``): the
        Identity Kernel is read at the start of every session. A client that asked for JSON with
        parameters (``indent``) gets it rendered for it. In the personal scope ``?layer=own`` is
        the effective kernel, read and remembered as it."""
        layer = _layer(request.query_params)
        active = self.active
        own = layer == "own" and not active.is_personal
        if request.accepted_media_type != JSON:
            return _kernel_response(_kernel_read(request, active, own), active)
        content, etag = stamps.remembered(
            request,
            ("identity body", active.space.pk, active.scope, own),
            lambda: _kernel_content(request, active, own),
        )
        return HttpResponse(content, content_type=JSON, headers={"ETag": etag})

    @extend_schema(
        tags=["identity"],
        summary="Update the Identity Kernel",
        description=(
            "Sections are optional; a present section replaces that section, `null` clears it, an "
            "empty body is a VALIDATION_ERROR. Inside a section an empty string or `null` means unset; "
            "a list item may not be `null` (a VALIDATION_ERROR naming it, e.g. `products[1]`). Send "
            "`If-Match` with the version you read (quoted or bare, or `*`) to make a stale write "
            "fail with PRECONDITION_FAILED (412); without it the last writer wins. The first write of a "
            'space may send `If-Match: "0"`, or `If-None-Match: *` (write only if the layer was never written: '
            "a kernel that exists is PRECONDITION_FAILED with its `ETag`). Every write stores a revision.\n\n"
            + KERNEL_DESCRIPTION
            + WRITE_ONLY_NOTE
        ),
        request=KernelWriteSerializer,
        responses={
            200: WRITE_RESULT,
            412: OpenApiResponse(
                response=ErrorSerializer,
                description="If-Match does not match the current version, or If-None-Match names it (`*`: the "
                "layer was written) (PRECONDITION_FAILED); `details.current_version` and the `ETag` header carry "
                "the current version. Or a condition was sent and your stored workspace fell back to your personal "
                "scope on this request (no `ETag`).",
            ),
        },
        parameters=[
            OpenApiParameter(
                "If-Match",
                type=str,
                location=OpenApiParameter.HEADER,
                required=False,
                description='The version you read: "3", 3 or *. In a workspace scope, the workspace layer\'s version. '
                + FALLBACK_NOTE,
            ),
            OpenApiParameter(
                "If-None-Match",
                type=str,
                location=OpenApiParameter.HEADER,
                required=False,
                description="* (write only if the layer was never written, version 0: a safe first write) or ETags "
                '("3", 3, W/"3"; compared weakly) the write must not go over. A kernel at a version it names is '
                "PRECONDITION_FAILED; a layer never written matches none. Evaluated after If-Match. A value that is "
                "no entity tag is VALIDATION_ERROR. " + FALLBACK_NOTE,
            ),
            PUT_LAYER_PARAMETER,
            ETAG_HEADER,
        ],
    )
    def put(self, request):
        layer = _layer(request.query_params)
        active = self.writable_space()
        if_match = services.IfMatch.parse(request.headers.get("If-Match"))
        if_none_match = services.IfNoneMatch.parse(request.headers.get("If-None-Match"))
        refuse_after_fallback(active, if_match, if_none_match)
        serializer = KernelWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kernel = services.kernel_update(
            space=active.space,
            changes=serializer.validated_data,
            actor=request.auth.actor,
            actor_user=request.user,
            if_match=if_match,
            if_none_match=if_none_match,
            record_descriptions=True,
        )
        if not request.auth.allows("memory:read"):
            body = kernel_write_body(kernel, active.scope, changes=serializer.validated_data)
            return Response(body, headers={"ETag": services.etag_for(kernel.version)})
        if layer == "own":
            return _kernel_response(selectors.kernel_own(space=active.space, written=kernel), active)
        effective = selectors.kernel_effective(space=active.space, user=request.user, written=kernel)
        return _kernel_response(effective, active)


class KernelHistoryView(ApiView):
    """``GET /memory/identity/history``: the active layer's revisions, newest first (paged)."""

    required_scopes = {"GET": "memory:read"}

    @extend_schema(
        tags=["identity"],
        summary="List Identity Kernel revisions",
        description="Every successful PUT stored a revision: the layer's sections after it, and who wrote it "
        "(`actor`, the credential; `actor_user`, the account). "
        "History is per layer: in a workspace scope it lists the workspace layer's revisions only.",
        responses={200: KernelRevisionPageSerializer},
        parameters=PAGE_PARAMETERS,
    )
    def get(self, request):
        page = Page.from_request(request)
        revisions = selectors.kernel_revisions(space=self.active.space)
        fields = ("version", "snapshot", "actor", "created_at", "actor_user", "actor_user__email", "actor_user__name")
        body = page.of(revisions.select_related("actor_user").only(*fields), KernelRevisionSerializer)
        return Response({**body, "scope": self.active.scope})


# --- kernel export (SPEC §9) -------------------------------------------------------------------
EXPORT_MEDIA_TYPES = {"markdown": "text/markdown", "text": "text/plain", "json": "application/json"}
EXPORT_EXTENSIONS = {"markdown": "md", "text": "txt", "json": "json"}
EXPORT_DESCRIPTION = (
    "Ready-to-inject context for an AI session, in injection order: the kernel block (≤ 500 tokens; "
    "in a workspace scope the effective kernel's, as `GET /memory/identity` answers it), "
    "then the product state (`product`), then the decisions most relevant to `query`/`task` (with "
    "propagation: decisions of other products that affect the product). Decisions are included only "
    "when the token also allows `decisions:read`. The result never exceeds `max_tokens` "
    "(o200k_base, counted on the final content): parts are kept by priority, each charged its exact "
    "tokens in place, up to the first that does not fit, which goes with every part after it, so a "
    "larger budget keeps all that a smaller one kept. So the lowest-ranked decisions are dropped first, "
    "then product-state list items (open questions, what works, what is blocked; last item first), "
    "then the product's texts and status; a kernel block that alone exceeds the budget is shortened by "
    "whole lines and is all the export holds. `format=markdown` (default) answers `text/markdown`, "
    "`text` answers `text/plain`, "
    "`json` answers the structure below. `download=true` adds `Content-Disposition: attachment` "
    "(`download` is `true` or `false`, in any case). "
    "The headers `X-Synchronex-Scope` and `X-Synchronex-Tokens` carry the scope and the total tokens, and "
    "`X-Synchronex-Truncated` (`true` or `false`, every format; `truncated` in `json`) whether `max_tokens` left "
    "out or shortened any part the export would otherwise hold (a decision, a product-state item, text or "
    "status, kernel lines): an export without open questions then says nothing of whether there are any. "
    "The kernel block's own 500-token ceiling is not counted here: `GET /memory/identity` reports it. "
    "The scope's BYOK keys, wherever one was pasted, are replaced by `[REDACTED:api_key]` before tokens "
    "are counted. A `product` with no state that decisions of other products affect (their "
    "`affects_products`, matched as decision search matches it) answers those decisions and no product "
    "section; a product neither a state nor such a decision names (or only a decision, when the token lacks "
    "`decisions:read`) is NOT_FOUND. In `json`, `tokens.kernel + tokens.product + tokens.decisions` is "
    "`tokens.total`. An unknown or repeated query parameter of GET is a "
    "VALIDATION_ERROR, and so is an empty `format`, `max_tokens`, `decisions` or `download` (`?decisions=` "
    "is not the default)."
)
EXPORT_HEADERS = [
    OpenApiParameter(
        "X-Synchronex-Scope",
        str,
        OpenApiParameter.HEADER,
        response=[200],
        description="The scope the context was built from.",
    ),
    OpenApiParameter(
        "X-Synchronex-Tokens",
        int,
        OpenApiParameter.HEADER,
        response=[200],
        description="The content's tokens in all (o200k_base), never above `max_tokens`.",
    ),
    OpenApiParameter(
        "X-Synchronex-Truncated",
        {"type": "string", "enum": ["true", "false"]},
        OpenApiParameter.HEADER,
        response=[200],
        description="`true` when `max_tokens` left out or shortened a part of the export, else `false` "
        "(`truncated` in `json`).",
    ),
    OpenApiParameter(
        "Content-Disposition",
        str,
        OpenApiParameter.HEADER,
        response=[200],
        description='With `download=true`: attachment; filename="synchronex-context-<YYYYMMDD-HHMMSS>.<md|txt|json>".',
    ),
]
EXPORT_RESPONSES = {
    (200, "application/json"): KernelExportSerializer,
    (200, "text/markdown"): OpenApiTypes.STR,
    (200, "text/plain"): OpenApiTypes.STR,
}


class KernelExportView(ApiView):
    """``GET``/``POST /kernel/export``: both need only ``memory:read`` (POST carries long tasks)."""

    required_scopes = {"GET": "memory:read", "POST": "memory:read"}

    def perform_content_negotiation(self, request, force=False):
        # The representation is chosen by the ``format`` option, not by Accept or DRF's own
        # ``?format=`` override (which would otherwise claim this option); errors stay JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        tags=["kernel export"],
        summary="Export the session context",
        description=EXPORT_DESCRIPTION,
        parameters=[KernelExportQuerySerializer, *EXPORT_HEADERS],
        responses=EXPORT_RESPONSES,
    )
    def get(self, request):
        options = KernelExportQuerySerializer(data=request.query_params)
        # A repeated option is refused, as search and MIF export refuse it: the serializer would
        # read the last one (``?max_tokens=100&max_tokens=8000``). An unknown name is refused in the
        # words of every other route's query, under the name as sent (``""`` too), not as a body's
        # unknown field: the serializer checks only the names it knows. Named with the other problems.
        problems = query_name_problems(request.query_params, tuple(options.fields))
        if problems:
            known = request.query_params.copy()
            for name in problems.keys() - options.fields.keys():
                del known[name]
            options = KernelExportQuerySerializer(data=known)
        if not options.is_valid() or problems:
            raise errors.ValidationFailed.for_query({**options.errors, **problems})
        return self._export(request, options)

    @extend_schema(
        tags=["kernel export"],
        summary="Export the session context (options in the body)",
        description=EXPORT_DESCRIPTION + " The same options as GET, as a JSON body (for long task texts).",
        request=KernelExportBodySerializer,
        parameters=EXPORT_HEADERS,
        responses=EXPORT_RESPONSES,
    )
    def post(self, request):
        return self._export(request, KernelExportBodySerializer(data=request.data))

    def _export(self, request, options) -> HttpResponse:
        options.is_valid(raise_exception=True)
        opts = options.validated_data
        active = self.active
        result = kernel_export_build(
            space=active.space,
            scope=active.scope,
            kernel=selectors.kernel_for_request(request, active.space),
            fmt=opts["format"],
            product=opts["product"],
            query=opts["query"],
            max_tokens=opts["max_tokens"],
            decisions=opts["decisions"],
            include_decisions=request.auth.allows("decisions:read"),
        )
        if result.format == "json":
            body = {
                "format": result.format,
                "scope": result.scope,
                "tokens": result.tokens,
                "truncated": result.truncated,
                "sections": [vars(section) for section in result.sections],
                "content": result.content,
                "generated_at": result.generated_at,
            }
            response = Response(KernelExportSerializer(body).data)
        else:
            media_type = EXPORT_MEDIA_TYPES[result.format]
            response = HttpResponse(result.content, content_type=f"{media_type}; charset=utf-8")
        response["X-Synchronex-Scope"] = result.scope
        response["X-Synchronex-Tokens"] = str(result.tokens["total"])
        response["X-Synchronex-Truncated"] = "true" if result.truncated else "false"
        if opts["download"]:
            filename = f"synchronex-context-{result.generated_at:%Y%m%d-%H%M%S}.{EXPORT_EXTENSIONS[result.format]}"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
