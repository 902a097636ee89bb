"""Product state endpoints (SPEC §5)."""

from __future__ import annotations

from urllib.parse import quote

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.response import Response

from apps.decisions.selectors import decision_recent_for_product
from apps.products.selectors import product_get, product_list
from apps.products.services import product_state_write
from synchronex.api.openapi import FALLBACK_NOTE, PRODUCT_NAME, location_header
from synchronex.api.pagination import PAGE_PARAMETERS, Page
from synchronex.api.preconditions import IfMatch, IfNoneMatch, etag_for, refuse_after_fallback
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
    PRODUCT_NAME,
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
LOCATION_HEADER = location_header(
    "The created product's state URL (this path with the stored name, percent-encoded as one segment: a slash is %2F).",
)
DECISIONS_NOTE = (
    "`recent_decisions` holds the five newest current decisions of the product and of other products that "
    "list it in `affects_products`, for tokens with `decisions:read` "
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


def _location(product) -> str:
    # reverse() percent-encodes the name but leaves "/" as is (a path character), and the name must
    # stay one segment ("a/../b" would be resolved away by a client): the route is reversed around a
    # stand-in that the fully encoded name then replaces. quote() leaves "." alone, and a segment
    # that is exactly "." or ".." is a dot segment a client removes (RFC 3986 §5.2.4): its dots are
    # written %2E, which the route decodes back to the name.
    head, tail = reverse("product-state", kwargs={"name": "~"}).rsplit("~", 1)
    segment = quote(product.name, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return head + segment + tail


class ProductStateView(ApiView):
    required_scopes = {"GET": "memory:read", "POST": "memory:write"}
    versioned = frozenset({"POST"})

    @extend_schema(
        tags=TAGS,
        summary="Read a product's state",
        description="The ETag header is the version, for `If-Match`; it is not a cache validator: "
        "`recent_decisions` changes without it, so `If-None-Match` is not evaluated and the answer is always "
        "200 with the body (never 304). " + DECISIONS_NOTE,
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
        '(201 with `Location`, else 200). With `If-Match: "<version>"` the write applies only to that version '
        "(else PRECONDITION_FAILED); with `If-None-Match: *` it only creates: a product that exists is "
        "PRECONDITION_FAILED with its `ETag`, and of concurrent creators exactly one gets 201. A write that "
        "changes something bumps the version (ETag). " + DECISIONS_NOTE + WRITE_ONLY_NOTE,
        parameters=[
            NAME_PARAMETER,
            OpenApiParameter(
                "If-Match",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description='The ETag you read: "3" (or 3; several separated by commas), or * (any version of '
                'a product that exists). A tag naming no current version (another number, a weak W/"3", "abc") '
                "is PRECONDITION_FAILED; a value that is no entity tag (yesterday) is VALIDATION_ERROR. "
                + FALLBACK_NOTE,
            ),
            OpenApiParameter(
                "If-None-Match",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description='* (write only if the product does not exist yet: a safe create) or ETags ("3", 3, '
                'W/"3"; compared weakly) the write must not go over. A product that exists at a version it names '
                "is PRECONDITION_FAILED; a missing one is created. Evaluated after If-Match. A value that is no "
                "entity tag is VALIDATION_ERROR. " + FALLBACK_NOTE,
            ),
            ETAG_HEADER,
            LOCATION_HEADER,
        ],
        request=ProductStateWriteSerializer,
        responses={
            200: WRITE_RESULT,
            201: WRITE_RESULT,
            412: OpenApiResponse(
                ErrorSerializer,
                description="If-Match does not name the current version, or If-None-Match names it (`*`: the "
                "product exists); `details.current_version` and the `ETag` header carry it. Or If-Match was sent "
                "and the product does not exist yet, or a condition was sent and your stored workspace fell back "
                "to your personal scope on this request (no `ETag`).",
            ),
        },
    )
    def post(self, request, name: str):
        name = name_from_path(request, name, field="name")
        active = self.writable_space()
        if_match = IfMatch.parse(request.headers.get("If-Match"))
        if_none_match = IfNoneMatch.parse(request.headers.get("If-None-Match"))
        refuse_after_fallback(active, if_match, if_none_match)
        body = ProductStateWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        product, created = product_state_write(
            space=active.space, name=name, changes=changes, if_match=if_match, if_none_match=if_none_match
        )
        answer = product_write_body(product, active.scope, changes=changes, allows=request.auth.allows)
        if not created:
            return Response(answer, headers=_etag(product))
        return Response(answer, status=201, headers={**_etag(product), "Location": _location(product)})


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
