"""Decision endpoints: record, read, delete, search (SPEC §6)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from apps.decisions.models import TAG_MAX, TAGS_MAX
from apps.decisions.selectors import decision_get, decision_search
from apps.decisions.services import decision_create, decision_delete
from apps.products.models import NAME_MAX
from synchronex.api.openapi import NOT_BLANK, comma_separated, location_header
from synchronex.api.pagination import PAGE_PARAMETERS, Page
from synchronex.api.serializers import ErrorSerializer
from synchronex.api.views import ApiView

from .serializers import (
    HALF_LIFE_MAX,
    Q_MAX,
    SEARCH_PARAMS,
    TOKEN_BUDGET_MAX,
    DecisionCreateSerializer,
    DecisionWithScopeSerializer,
    SearchResponseSerializer,
    decision_representation,
    hit_representation,
    parse_search_params,
)

TAGS = ["Decisions"]


def _with_scope(decision, scope: str) -> dict:
    return {**decision_representation(decision), "scope": scope}


class DecisionListView(ApiView):
    required_scopes = {"POST": "decisions:write"}

    @extend_schema(
        tags=TAGS,
        summary="Record a decision",
        description="Creates the product when missing and marks a superseded decision. A `supersedes` id "
        "that is unknown or belongs to another scope is NOT_FOUND; one that is already superseded is CONFLICT. "
        "Superseding another product's decision adds that product to `affects_products` (unless listed, or "
        "20 are), so its views show the replacement.",
        request=DecisionCreateSerializer,
        parameters=[location_header("The decision's URL: `/api/v1/memory/decisions/{id}`.")],
        responses={
            201: DecisionWithScopeSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="The decision named in `supersedes` is already superseded."
            ),
        },
    )
    def post(self, request):
        active = self.writable_space()
        body = DecisionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = decision_create(space=active.space, **body.validated_data)
        location = reverse("decision-detail", kwargs={"decision_id": created.pk})
        return Response(_with_scope(created, active.scope), status=201, headers={"Location": location})


class DecisionDetailView(ApiView):
    required_scopes = {"GET": "decisions:read", "DELETE": "decisions:write"}

    @extend_schema(
        tags=TAGS,
        summary="Read one decision",
        description="The decision with this id in the active scope; the id a decision had in the system it "
        "was imported from (MIF) names it too. Unknown, malformed or another scope's ids are NOT_FOUND.",
        responses={200: DecisionWithScopeSerializer},
    )
    def get(self, request, decision_id: str):
        active = self.active
        return Response(_with_scope(decision_get(space=active.space, decision_id=decision_id), active.scope))

    @extend_schema(
        tags=TAGS,
        summary="Delete a decision",
        description="A real delete, in one call: the duplicates consolidation merged into this decision "
        "(superseded by it, with the same or near-identical text) are deleted with it, so its text leaves "
        "search, product state, kernel export and MCP at once. A decision superseded by hand is never "
        "deleted along: in a chain A ← B ← C (B supersedes A, C supersedes B), deleting B leaves C "
        "superseding A, and A stays superseded. Deleting the chain's current decision (C) makes the one it "
        "superseded (B) current again; deleting its oldest (A) leaves B with `supersedes: null`. Deleting a "
        "merged copy takes out of its survivor the tags, affected products, alternatives and reasoning the "
        'merge took from that copy alone (README, "Deleting a decision").',
        responses={204: None},
    )
    def delete(self, request, decision_id: str):
        active = self.writable_space()
        decision_delete(space=active.space, decision_id=decision_id)
        return Response(status=204)


def _param(name: str, type_, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, required=False, description=description)


class DecisionSearchView(ApiView):
    required_scopes = {"GET": "decisions:read"}

    @extend_schema(
        tags=TAGS,
        summary="Search decisions (hybrid: full-text, typo correction, vectors; weighted by recency)",
        description=(
            "With `q`: PostgreSQL full-text search over decision (A), tags (B) and reasoning (C); "
            "when full-text finds fewer than 10 and a word of `q` appears in none of the scope's decisions "
            "(a typo, typically), each such word is replaced by the scope's closest words by trigram "
            "word similarity (at least 0.5; the closest and any equally close, at most 3) or dropped when "
            "none is close or it is under 3 characters (the first 16 such words in the order written; an "
            "excluded `-word` is never corrected), and the corrected query's matches are ranked after "
            "those of `q` as written. A word of a script written without spaces (Chinese, Japanese, Thai, "
            "Lao, Khmer, Myanmar) also matches inside such a run of the text (`数据库` finds "
            "`我们决定使用数据库迁移工具`, one character too), ranked and excluded as any word, never "
            "typo-corrected; only the first 8 distinct runs of such letters in `q` (in at most 16 of its "
            "words) match inside runs, later ones as whole words; cosine "
            "similarity of embeddings when the scope has a provider and vectors of its model "
            "(`semantic: true`). Ranks are fused with reciprocal rank fusion (k = 60) and "
            "score = 0.8 × relevance + 0.2 × recency, recency = exp(-ln2 · age_days / half_life_days). "
            "Without `q`: newest first. Superseded decisions are hidden unless `include_superseded=true`. "
            "Unknown or repeated parameters are a VALIDATION_ERROR. The request line (path and query, "
            "percent-encoded) may hold at most 8190 bytes: a longer one is refused by the web server with a "
            "plain-HTML 414 before the API sees it, which long non-ASCII `q`, `product` or `tags` can reach "
            "below their maxima (each UTF-8 byte is sent as `%XX`)."
        ),
        parameters=[
            _param(
                "q",
                {"type": "string", "maxLength": Q_MAX},
                f"Search text (≤ {Q_MAX} characters; PostgreSQL web-search syntax: every word, "
                '`"a phrase"`, `or`, `-word` excludes); absent → newest first. Exclusions hold for '
                "matches by meaning too, only the words a match must contain are embedded, and a `q` of "
                "stop words or punctuation alone finds nothing (`semantic: false`).",
            ),
            _param(
                "product",
                {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": NOT_BLANK},
                "Only this product's decisions, plus (match: affects) other products' decisions that "
                "list it in affects_products unless include_related=false.",
            ),
            comma_separated(
                "tags",
                {"type": "string", "maxLength": TAG_MAX, "pattern": r"^[^,]*[^\s,][^,]*$"},
                f"Comma-separated tags (≤ {TAGS_MAX}, each ≤ {TAG_MAX} characters); all must match.",
                max_items=TAGS_MAX,
            ),
            _param("since", OpenApiTypes.STR, "Decided at or after (ISO 8601 date or date-time)."),
            _param("until", OpenApiTypes.STR, "Decided at or before (a date includes the whole day)."),
            _param("include_related", OpenApiTypes.BOOL, "true (default) or false."),
            _param("include_superseded", OpenApiTypes.BOOL, "true or false (default)."),
            _param(
                "half_life_days",
                {"type": "number", "exclusiveMinimum": 0, "maximum": HALF_LIFE_MAX},
                f"Recency half-life, 0 < days ≤ {HALF_LIFE_MAX} (default 90).",
            ),
            _param(
                "token_budget",
                {"type": "integer", "minimum": 1, "maximum": TOKEN_BUDGET_MAX},
                f"1–{TOKEN_BUDGET_MAX}: keep the ranked results whose rendered text fits (o200k_base); "
                "`next_offset` then follows the last result kept. When not even the first fits, `results` "
                "is empty, `tokens.truncated` true and `next_offset` null: ask again with a larger budget.",
            ),
            *PAGE_PARAMETERS,
        ],
        responses={200: SearchResponseSerializer},
    )
    def get(self, request):
        active = self.active
        args, problems = parse_search_params(request.query_params)
        page = Page.from_request(request, filters=SEARCH_PARAMS, problems=problems)
        result = decision_search(space=active.space, limit=page.limit, offset=page.offset, **args)
        body = page.envelope([hit_representation(hit) for hit in result.hits], result.count)
        body["semantic"] = result.semantic
        body["scope"] = active.scope
        if result.tokens_used is not None:
            body["tokens"] = {"budget": args["token_budget"], "used": result.tokens_used, "truncated": result.truncated}
        return Response(body)
