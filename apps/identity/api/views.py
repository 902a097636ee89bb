"""Identity Kernel endpoints (SPEC §4)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from apps.identity import selectors, services
from apps.identity.api.serializers import (
    KernelRevisionPageSerializer,
    KernelRevisionSerializer,
    KernelSerializer,
    KernelWriteSerializer,
)
from synchronex.api.pagination import Page
from synchronex.api.serializers import ErrorSerializer
from synchronex.api.views import ApiView

ETAG_HEADER = OpenApiParameter(
    "ETag", type=str, location=OpenApiParameter.HEADER, response=True, description='The version, quoted: "3".'
)
KERNEL_DESCRIPTION = (
    "The effective Identity Kernel of the active scope with its injection block (at most 500 "
    "o200k_base tokens; `truncated` is true when lower-priority lines were dropped). A space that "
    "never wrote its kernel answers 200 with every section null, `version: 0`, `updated_at: null` "
    "and an empty block. The `ETag` header carries the version."
)


def _kernel_response(effective: selectors.EffectiveKernel, scope: str) -> Response:
    body = KernelSerializer(effective.as_dict(scope=scope)).data
    return Response(body, headers={"ETag": services.etag_for(effective.version)})


class KernelView(ApiView):
    """``GET``/``PUT /memory/identity``.

    GET of a space without a kernel yet answers 200 with an empty kernel (all sections null),
    ``version: 0``, ``updated_at: null`` and an empty block, so clients need no special case;
    the first PUT may send ``If-Match: "0"``. PUT replaces each section present in the body
    (``null`` clears it) and leaves the others alone. With ``If-Match`` (quoted or bare version,
    or ``*``) a stale write is PRECONDITION_FAILED; without it the last writer wins.
    """

    required_scopes = {"GET": "memory:read", "PUT": "memory:write"}

    @extend_schema(
        tags=["identity"],
        summary="Get the Identity Kernel",
        description=KERNEL_DESCRIPTION,
        responses={200: KernelSerializer},
        parameters=[ETAG_HEADER],
    )
    def get(self, request):
        active = self.active
        return _kernel_response(selectors.kernel_effective(space=active.space), active.scope)

    @extend_schema(
        tags=["identity"],
        summary="Update the Identity Kernel",
        description=(
            "Sections are optional; a present section replaces that section, `null` clears it, an "
            "empty body is a VALIDATION_ERROR. Inside a section an empty string or `null` means unset. "
            "Send `If-Match` with the version you read (quoted or bare, or `*`) to make a stale write "
            "fail with PRECONDITION_FAILED (412); without it the last writer wins. The first write of a "
            'space may send `If-Match: "0"`. Every write stores a revision.\n\n' + KERNEL_DESCRIPTION
        ),
        request=KernelWriteSerializer,
        responses={
            200: KernelSerializer,
            412: OpenApiResponse(
                response=ErrorSerializer,
                description="If-Match does not match the current version (PRECONDITION_FAILED); "
                "`details.current_version` and the `ETag` header carry the current version.",
            ),
        },
        parameters=[
            OpenApiParameter(
                "If-Match",
                type=str,
                location=OpenApiParameter.HEADER,
                required=False,
                description='The version you read: "3", 3 or *.',
            ),
            ETAG_HEADER,
        ],
    )
    def put(self, request):
        active = self.writable_space()
        if_match = services.IfMatch.parse(request.headers.get("If-Match"))
        serializer = KernelWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kernel = services.kernel_update(
            space=active.space,
            changes=serializer.validated_data,
            actor=request.auth.actor,
            actor_user=request.user,
            if_match=if_match,
        )
        return _kernel_response(selectors.kernel_from_layer(kernel=kernel), active.scope)


class KernelHistoryView(ApiView):
    """``GET /memory/identity/history``: the active layer's revisions, newest first (paged)."""

    required_scopes = {"GET": "memory:read"}

    @extend_schema(
        tags=["identity"],
        summary="List Identity Kernel revisions",
        description="Every successful PUT stored a revision: the layer's sections after it, and who wrote it.",
        responses={200: KernelRevisionPageSerializer},
        parameters=[
            OpenApiParameter("limit", type=int, description="1–100, default 20"),
            OpenApiParameter("offset", type=int, description="≥ 0, default 0"),
        ],
    )
    def get(self, request):
        page = Page.from_request(request)
        revisions = selectors.kernel_revisions(space=self.active.space)
        rows = list(page.slice(revisions.only("version", "snapshot", "actor", "created_at")))
        results = KernelRevisionSerializer(rows, many=True).data
        return Response(page.envelope(results, revisions.count()))
