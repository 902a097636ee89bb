"""Product state endpoints (SPEC §5)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.response import Response

from apps.decisions.selectors import decision_recent_for_product
from apps.products.selectors import product_get, product_list
from apps.products.services import product_state_write
from synchronex.api.pagination import PAGE_PARAMETERS, Page
from synchronex.api.preconditions import IfMatch, etag_for
from synchronex.api.raw_path import name_from_path
from synchronex.api.serializers import ErrorSerializer
from synchronex.api.views import ApiView

from .serializers import (
    ProductListSerializer,
    ProductStateSerializer,
    ProductStateWriteSerializer,
    ProductStateWrittenSerializer,
    ProductSummarySerializer,
    product_state_body,
    product_write_body,
)

TAGS = ["Product state"]

NAME_PARAMETER = OpenApiParameter(
    "name",
    str,
    OpenApiParameter.PATH,
    description="The product name, URL-encoded (spaces, slashes as %2F, any script); trimmed, ≤ 100 "
    "characters, matched case-insensitively.",
)
ETAG_HEADER = OpenApiParameter(
    "ETag",
    str,
    OpenApiParameter.HEADER,
    response=[200, 201, 412],
    description='The version, quoted: "3". Send it back in `If-Match` to write only over that version.',
)
DECISIONS_NOTE = (
    "`recent_decisions` holds the product's five newest current decisions for tokens with `decisions:read` "
    "(every API key); for an OAuth token without it the list is empty."
)
WRITE_ONLY_NOTE = (
    " An OAuth token with `memory:write` but not `memory:read` is answered only `name`, `version`, "
    "`updated_at`, `scope` and the fields its body set (as stored, e.g. trimmed): a write must not read "
    "the rest of the state."
)
WRITE_RESULT = PolymorphicProxySerializer(
    component_name="ProductStateWriteResult",
    serializers=[ProductStateSerializer, ProductStateWrittenSerializer],
    resource_type_field_name=None,
)


def _etag(product) -> dict:
    return {"ETag": etag_for(product.version)}


class ProductStateView(ApiView):
    required_scopes = {"GET": "memory:read", "POST": "memory:write"}

    @extend_schema(
        tags=TAGS,
        summary="Read a product's state",
        description="The ETag header is the version. " + DECISIONS_NOTE,
        parameters=[NAME_PARAMETER, ETAG_HEADER],
        responses={200: ProductStateSerializer},
    )
    def get(self, request, name: str):
        name = name_from_path(request, name, field="name")
        active = self.active
        product = product_get(space=active.space, name=name)
        recent = decision_recent_for_product(product=product, readable=request.auth.allows("decisions:read"))
        return Response(product_state_body(product, recent, active.scope), headers=_etag(product))

    @extend_schema(
        tags=TAGS,
        summary="Update (or create) a product's state",
        description="Partial update: absent fields stay, lists replace. Creates the product when missing "
        '(201, else 200). With `If-Match: "<version>"` the write applies only to that version '
        "(else PRECONDITION_FAILED); a write that changes something bumps the version (ETag). "
        + DECISIONS_NOTE
        + WRITE_ONLY_NOTE,
        parameters=[
            NAME_PARAMETER,
            OpenApiParameter(
                "If-Match",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description='The ETag you read: "3" (or 3; several separated by commas), or * (any version of '
                'a product that exists). A tag naming no current version (another number, a weak W/"3", "abc") '
                "is PRECONDITION_FAILED; a value that is no entity tag (yesterday) is VALIDATION_ERROR.",
            ),
            ETAG_HEADER,
        ],
        request=ProductStateWriteSerializer,
        responses={
            200: WRITE_RESULT,
            201: WRITE_RESULT,
            412: OpenApiResponse(
                ErrorSerializer,
                description="If-Match does not name the current version (`details.current_version` and the "
                "`ETag` header carry it), or the product does not exist yet (no `ETag`).",
            ),
        },
    )
    def post(self, request, name: str):
        name = name_from_path(request, name, field="name")
        active = self.writable_space()
        if_match = IfMatch.parse(request.headers.get("If-Match"))
        body = ProductStateWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        product, created = product_state_write(space=active.space, name=name, changes=changes, if_match=if_match)
        answer = product_write_body(product, active.scope, changes=changes, allows=request.auth.allows)
        return Response(answer, status=201 if created else 200, headers=_etag(product))


class ProductListView(ApiView):
    required_scopes = {"GET": "memory:read"}

    @extend_schema(
        tags=TAGS,
        summary="List the products of the active scope",
        description="Newest activity first (a state write or a decision naming the product counts as activity).",
        parameters=PAGE_PARAMETERS,
        responses={200: ProductListSerializer},
    )
    def get(self, request):
        active = self.active
        page = Page.from_request(request)
        body = page.of(product_list(space=active.space), ProductSummarySerializer)
        body["scope"] = active.scope
        return Response(body)
