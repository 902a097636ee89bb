"""AI cost endpoints (SPEC §9): ``GET /ai/costs`` and ``GET /ai/costs/{product}``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.costs import selectors
from apps.costs.api.renderers import ExactDecimalJSONRenderer
from apps.costs.api.serializers import CostSummarySerializer, ProductCostSummarySerializer
from apps.products.names import clean_product_name
from apps.products.selectors import product_find
from synchronex.api import errors
from synchronex.api.openapi import PRODUCT_NAME
from synchronex.api.parsers import ascii_integer
from synchronex.api.raw_path import name_from_path
from synchronex.api.serializers import query_name_problems
from synchronex.api.views import ApiView

COST_PARAMS = ("days",)  # every query parameter of both routes

DAYS_PARAMETER = OpenApiParameter(
    "days",
    type={"type": "integer", "minimum": 1, "maximum": selectors.DAYS_MAX, "default": selectors.DAYS_DEFAULT},
    description=(
        f"1–{selectors.DAYS_MAX}, default {selectors.DAYS_DEFAULT}: the last N UTC calendar days, today included."
    ),
)
SUMMARY_DESCRIPTION = (
    "Totals and breakdowns of the active scope's AI cost events (ingested `ai_usage` signals and "
    "the service's own paid calls). Money is exact: USD amounts are JSON numbers with at most 6 "
    "decimals. Events whose model has no known price count in `requests` and `unpriced_requests` "
    "and in the token sums, never in `cost_usd`. Breakdowns are sorted by cost, highest first. "
    "Unknown or repeated query parameters are a VALIDATION_ERROR."
)


def parse_days(query) -> int:
    """The ``days`` parameter of the query string (a ``QueryDict``): ASCII digits, 1–365. Anything
    else, a repeated ``days`` or any other parameter is a VALIDATION_ERROR naming each (as search
    and MIF export answer): ``?dayz=7`` must not answer the default period, nor ``?days=7&days=300``
    one of the two."""
    problems = query_name_problems(query, COST_PARAMS)
    raw = query.get("days")
    days = selectors.DAYS_DEFAULT if raw is None else ascii_integer(raw)
    if raw is not None and "days" not in problems and (days is None or not 1 <= days <= selectors.DAYS_MAX):
        problems["days"] = f"days must be an integer between 1 and {selectors.DAYS_MAX}."
    if problems:
        raise errors.ValidationFailed.for_query(problems)
    return days


class CostSummaryView(ApiView):
    """``GET /ai/costs``: the whole scope."""

    required_scopes = {"GET": "costs:read"}
    required_tier = "pro"
    renderer_classes = [ExactDecimalJSONRenderer]

    @extend_schema(
        tags=["costs"],
        summary="AI cost summary",
        operation_id="ai_costs_summary",
        description=SUMMARY_DESCRIPTION,
        parameters=[DAYS_PARAMETER],
        responses={200: CostSummarySerializer},
    )
    def get(self, request):
        days = parse_days(request.query_params)
        active = self.active
        summary = selectors.cost_summary(space=active.space, days=days)
        return Response(CostSummarySerializer({"scope": active.scope, **summary}).data)


class ProductCostSummaryView(ApiView):
    """``GET /ai/costs/{product}``: one product of the scope, with ``by_operation``."""

    required_scopes = {"GET": "costs:read"}
    required_tier = "pro"
    renderer_classes = [ExactDecimalJSONRenderer]

    @extend_schema(
        tags=["costs"],
        summary="AI cost summary of one product",
        operation_id="ai_costs_product_summary",
        description=SUMMARY_DESCRIPTION
        + " The product is named case-insensitively; an unknown product is NOT_FOUND. Adds `product` "
        "and `by_operation`.",
        parameters=[
            OpenApiParameter(
                "product",
                PRODUCT_NAME,
                OpenApiParameter.PATH,
                description="The product name, URL-encoded; trimmed, matched case-insensitively.",
            ),
            DAYS_PARAMETER,
        ],
        responses={200: ProductCostSummarySerializer},
    )
    def get(self, request, product: str):
        # An impossible name is a VALIDATION_ERROR, as on the product state's own path.
        product = clean_product_name(name_from_path(request, product, field="product"), field="product")
        days = parse_days(request.query_params)
        active = self.active
        found = product_find(space=active.space, name=product)
        if found is None:
            raise errors.NotFound("No product of that name in this scope.")
        summary = selectors.cost_summary(space=active.space, days=days, product=found)
        body = {"scope": active.scope, "product": {"id": found.id, "name": found.name}, **summary}
        return Response(ProductCostSummarySerializer(body).data)
