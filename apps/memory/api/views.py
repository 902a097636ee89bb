from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.memory.api.serializers import (
    MAX_PRODUCT_CHARS,
    MAX_QUERY_CHARS,
    SEARCH_PARAMS,
    ConsolidateAcceptedSerializer,
    ConsolidateRequestSerializer,
    ConsolidationJobSerializer,
    MemorySearchQuerySerializer,
    MemorySearchResponseSerializer,
)
from apps.memory.consolidation import consolidation_job_get, consolidation_job_request
from apps.memory.search import SEARCH_SCOPES, SEARCH_TYPES, memory_search
from synchronex.api.openapi import NOT_BLANK, PRODUCT_NAME, comma_separated
from synchronex.api.pagination import PAGE_PARAMETERS, Page
from synchronex.api.views import ApiView


class MemorySearchView(ApiView):
    """Search every memory type of the active scope at once.

    Either scope of ``SEARCH_SCOPES`` opens the route; ``memory_search`` then serves each type only
    to a token holding that type's scope. A token holding neither is FORBIDDEN naming both.
    """

    required_scopes = {"GET": SEARCH_SCOPES}

    @extend_schema(
        tags=["memory"],
        summary="Search memory across types",
        description=(
            'Full-text search (PostgreSQL `websearch_to_tsquery`: words, `"phrases"`, `-exclusions`, `or`) '
            "with typo-tolerant trigram matching, over the Identity Kernel, product states, decisions and "
            "generic memories of the active scope, ranked together by `score`. Typo tolerance compares only "
            "the words a hit must contain, and the operators hold for its hits too: `bread -bread` finds "
            "nothing, `-bread` finds what has no bread, a hit never has an excluded word or phrase. "
            "A word of a script written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) also "
            "matches inside such a run of the text (`ラーメン` finds `東京のラーメン屋`, one character too) "
            "as a full-text match, and is highlighted on its own; only the first 8 distinct runs of such "
            "letters in `q` (in at most 16 of its words) match inside runs, later ones as whole words. "
            "Bounds of one request: typo tolerance compares at most the first 16 words of `q` (letters and "
            "digits: `a-b` is two) within its first 64 characters, later words must appear as written, with "
            "at most the first 2,000 characters of a hit's text (full-text matching reads all of it); a text "
            "longer than 2,000 characters gives its snippet from the 2,000 around the first place a word of "
            "`q` appears. "
            "In `snippet`, every matched word is wrapped in `**` (Markdown bold), e.g. "
            "`Use **PostgreSQL** for search`. A token needs `memory:read` or `decisions:read` (neither: "
            "FORBIDDEN, `required_scopes` naming both). Decision hits, and `signal` hits of type `decision` "
            "(which carry a decision's text), are served only to tokens with `decisions:read`; every other hit "
            "only to tokens with `memory:read`. Hits a token may not see are left out, not an error. "
            "`signal` hits are ingested project signals (title, body, type and source). "
            "Unknown or repeated parameters are a VALIDATION_ERROR."
        ),
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": NOT_BLANK},
                required=True,
                description=f"Search text, 1–{MAX_QUERY_CHARS} characters (trimmed).",
            ),
            comma_separated(
                "types",
                {"type": "string", "enum": list(SEARCH_TYPES)},
                f"Comma-separated list of {', '.join(SEARCH_TYPES)} (default: all).",
            ),
            OpenApiParameter(
                "product",
                PRODUCT_NAME,
                description=f"Only hits of this product (≤ {MAX_PRODUCT_CHARS} characters).",
            ),
            *PAGE_PARAMETERS,
        ],
        responses=MemorySearchResponseSerializer,
    )
    def get(self, request):
        params = MemorySearchQuerySerializer(data=request.query_params)
        params.is_valid()  # its problems are named with the page's, in one answer
        page = Page.from_request(request, filters=SEARCH_PARAMS, problems=params.errors)
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


CONSOLIDATE_DESCRIPTION = (
    "Queue a consolidation of the active scope, run by a background worker: (1) pending ingested signals "
    "are applied to product states, (2) duplicate decisions of a product (same text, or trigram similarity "
    "≥ 0.9 to the oldest) merge into the oldest, which takes their tags, affected products, alternatives and "
    "reasoning within its bounds — the others are superseded, never deleted, (3) product-state lists are "
    "de-duplicated and working items leave `what_is_blocked`, (4) the kernel's product snapshots (≤ 10, most "
    "recently active) are refreshed and its block re-rendered, (5) missing embeddings are computed when a "
    "provider is configured, (6) `stats` are recorded. Steps 1–4 are applied together or not at all. A scope "
    "has one queued or running job at a time: while one is active, this returns that job (same `job_id`) "
    "whatever its options and the request's; the response's `dry_run` and `product` are the returned "
    "job's. `dry_run` computes the stats and changes nothing."
)


def _status_url(job) -> str:
    return f"/api/v1/memory/consolidate/{job.pk}"


class ConsolidateView(ApiView):
    required_scopes = {"POST": "memory:write"}
    required_tier = "pro"

    @extend_schema(
        tags=["memory"],
        summary="Consolidate memory (asynchronous)",
        description=CONSOLIDATE_DESCRIPTION,
        request=ConsolidateRequestSerializer,
        parameters=[
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                response=[202],
                description="The job's status URL, as `status_url`.",
            )
        ],
        responses={202: ConsolidateAcceptedSerializer},
    )
    def post(self, request):
        active = self.writable_space()  # first, as every write: a viewer's bad body is FORBIDDEN too
        body = ConsolidateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job, _ = consolidation_job_request(
            space=active.space,
            product_name=body.validated_data.get("product"),
            dry_run=body.validated_data["dry_run"],
        )
        url = _status_url(job)
        payload = {
            "job_id": job.pk,
            "status": job.status,
            "created_at": job.created_at,
            "status_url": url,
            "scope": active.scope,
            "dry_run": job.dry_run,
            "product": job.product_name or None,
        }
        return Response(ConsolidateAcceptedSerializer(payload).data, status=202, headers={"Location": url})


class ConsolidationJobView(ApiView):
    required_scopes = {"GET": "memory:read"}
    required_tier = "pro"

    @extend_schema(
        tags=["memory"],
        summary="Read a consolidation job",
        description="Status, timestamps, and `stats` once succeeded or `error` once failed. A job of another "
        "scope is NOT_FOUND.",
        responses={200: ConsolidationJobSerializer},
    )
    def get(self, request, job_id: str):
        active = self.active
        job = consolidation_job_get(space=active.space, job_id=job_id)
        return Response(ConsolidationJobSerializer(job, context={"scope": active.scope}).data)
