from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.memory.api.serializers import MemorySearchQuerySerializer, MemorySearchResponseSerializer
from apps.memory.search import SEARCH_TYPES, memory_search
from synchronex.api.pagination import Page
from synchronex.api.views import ApiView


class MemorySearchView(ApiView):
    """Search every memory type of the active scope at once."""

    required_scopes = {"GET": "memory:read"}

    @extend_schema(
        tags=["memory"],
        summary="Search memory across types",
        description=(
            'Full-text search (PostgreSQL `websearch_to_tsquery`: words, `"phrases"`, `-exclusions`, `or`) '
            "with typo-tolerant trigram matching, over the Identity Kernel, product states, decisions and "
            "generic memories of the active scope, ranked together by `score`. "
            "In `snippet`, every matched word is wrapped in `**` (Markdown bold), e.g. "
            "`Use **PostgreSQL** for search`. Decision hits are included only for tokens with the "
            "`decisions:read` scope; other tokens get the other hits, not an error. "
            "`signal` is accepted as a type; it has no hits until project signals exist."
        ),
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, required=True, description="Search text, 1–500 characters."),
            OpenApiParameter(
                "types",
                OpenApiTypes.STR,
                description=f"Comma-separated list of {', '.join(SEARCH_TYPES)} (default: all).",
            ),
            OpenApiParameter("product", OpenApiTypes.STR, description="Only hits of this product (≤ 100 chars)."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–100, default 20."),
            OpenApiParameter("offset", OpenApiTypes.INT, description="≥ 0, default 0."),
        ],
        responses=MemorySearchResponseSerializer,
    )
    def get(self, request):
        # A plain dict: DRF would read an empty optional parameter of a QueryDict as absent.
        params = MemorySearchQuerySerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        page = Page.from_request(request)
        active = self.active
        results, count = memory_search(
            space=active.space,
            q=params.validated_data["q"],
            types=params.validated_data.get("types") or list(SEARCH_TYPES),
            product=params.validated_data.get("product"),
            limit=page.limit,
            offset=page.offset,
            allows=request.auth.allows,
            user=request.user,
        )
        body = {**page.envelope(results, count), "scope": active.scope}
        return Response(MemorySearchResponseSerializer(body).data)
