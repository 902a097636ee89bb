"""Reads of the Decision Index: scoped lookups, rendering and the hybrid search (SPEC §6).

Ranking happens in PostgreSQL in one statement: full-text (``websearch_to_tsquery`` on the
weighted document, ``ts_rank_cd``), a trigram fallback for typos, and — when the space has an
embedding provider and vectors of its model — cosine similarity. Text and vector ranks are fused
with reciprocal rank fusion (k = 60); the final score is 0.8 × relevance + 0.2 × recency.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.memory import embeddings
from apps.products.names import normalise_product_name
from apps.products.selectors import product_find
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.tokens import count_tokens

from .models import HNSW_DIMENSIONS, SEARCH_CONFIG, Decision

RRF_K = 60
RELEVANCE_WEIGHT = 0.8
RECENCY_WEIGHT = 0.2
# Below this many full-text matches the trigram branch adds typo-tolerant candidates.
TRIGRAM_FALLBACK_BELOW = 10
TRIGRAM_THRESHOLD = 0.5
# How many nearest vectors take part in the fusion.
VECTOR_CANDIDATES = 100
TABLE = Decision._meta.db_table


# --- scoped lookups ------------------------------------------------------------------------------
def decisions_with_refs(qs: QuerySet[Decision] | None = None) -> QuerySet[Decision]:
    """Decisions with what their API shape needs in the same query (the product's name),
    without the heavy columns (search document, vector)."""
    qs = Decision.objects.all() if qs is None else qs
    return qs.select_related("product").only(
        *(f.name for f in Decision._meta.concrete_fields if f.name not in _HEAVY_FIELDS),
        "product__name",
        "product__space_id",
    )


_HEAVY_FIELDS = {"search_document", "affects_keys", "embedding"}


def decision_get(*, space: Space, decision_id) -> Decision:
    """A decision of ``space``; unknown, malformed or foreign ids are NOT_FOUND."""
    try:
        pk = uuid.UUID(str(decision_id))
    except ValueError:
        raise errors.NotFound("No such decision in this scope.") from None
    found = decisions_with_refs(Decision.objects.filter(space=space, pk=pk)).first()
    if found is None:
        raise errors.NotFound("No such decision in this scope.")
    return found


def decision_recent_for_product(*, product, limit: int = 5) -> list[Decision]:
    """The product's newest current (not superseded) decisions."""
    qs = Decision.objects.filter(product=product, superseded_by__isnull=True).order_by("-decided_at", "id")
    return list(decisions_with_refs(qs)[:limit])


def decision_render_text(decision: Decision) -> str:
    """The plain-text rendering of a decision: what ``token_budget`` counts, and what the
    kernel export prints."""
    lines = [f"[{decision.decided_at:%Y-%m-%d}] {decision.product.name}: {decision.decision}"]
    if decision.reasoning:
        lines.append(f"Why: {decision.reasoning}")
    if decision.alternatives:
        lines.append("Alternatives considered: " + "; ".join(decision.alternatives))
    if decision.tags:
        lines.append("Tags: " + ", ".join(decision.tags))
    if decision.affects_products:
        lines.append("Affects: " + ", ".join(decision.affects_products))
    return "\n".join(lines)


def recency_factor(decided_at: datetime, *, half_life_days: float, now: datetime | None = None) -> float:
    """exp(-ln2 · age_days / half_life_days); future dates count as age 0."""
    age_days = max(((now or timezone.now()) - decided_at).total_seconds(), 0.0) / 86400.0
    return math.exp(-math.log(2) * age_days / half_life_days)


# --- search --------------------------------------------------------------------------------------
@dataclass
class SearchHit:
    decision: Decision
    score: float
    score_detail: dict
    match: str  # "direct" | "affects"


@dataclass
class SearchResult:
    hits: list[SearchHit]
    count: int
    semantic: bool
    tokens_used: int | None = None
    truncated: bool = False
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Filters:
    space_id: uuid.UUID
    product_name: str | None
    product_id: uuid.UUID | None
    include_related: bool
    tags: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    include_superseded: bool

    def where(self) -> tuple[str, list]:
        """The WHERE clause (on the unaliased table) and its positional parameters."""
        parts, params = [f"{TABLE}.space_id = %s"], [self.space_id]
        if self.product_name is not None:
            direct = f"{TABLE}.product_id = %s" if self.product_id else "FALSE"
            direct_params = [self.product_id] if self.product_id else []
            if self.include_related:
                parts.append(f"({direct} OR {TABLE}.affects_keys @> ARRAY[lower(%s)]::text[])")
                params += [*direct_params, self.product_name]
            else:
                parts.append(direct)
                params += direct_params
        if self.tags:
            parts.append(f"{TABLE}.tags @> %s::varchar(50)[]")
            params.append(list(self.tags))
        if self.since is not None:
            parts.append(f"{TABLE}.decided_at >= %s")
            params.append(self.since)
        if self.until is not None:
            parts.append(f"{TABLE}.decided_at < %s")
            params.append(self.until)
        if not self.include_superseded:
            parts.append(f"{TABLE}.superseded_by_id IS NULL")
        return " AND ".join(parts), params

    def match_sql(self) -> tuple[str, list]:
        if self.product_name is None:
            return "'direct'", []
        if self.product_id is None:
            return "'affects'", []
        return f"CASE WHEN {TABLE}.product_id = %s THEN 'direct' ELSE 'affects' END", [self.product_id]

    def match_of(self, decision: Decision) -> str:
        if self.product_name is None or decision.product_id == self.product_id:
            return "direct"
        return "affects"


def decision_search(
    *,
    space: Space,
    q: str | None = None,
    product: str | None = None,
    tags: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    include_related: bool = True,
    include_superseded: bool = False,
    half_life_days: float = 90,
    token_budget: int | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchResult:
    """Search the decisions of ``space`` (arguments already validated by the caller).

    ``until`` is exclusive. Without ``q`` the newest decisions come first and the score is the
    recency factor. With ``q``: score = 0.8 × relevance + 0.2 × recency, where relevance is the
    mean over the active branches (text, and semantic when available) of k+1 / (k + rank), i.e.
    reciprocal rank fusion normalised so a first place in every branch is 1.0. ``score_detail``
    holds each branch's normalised contribution (semantic is null when vectors are not used).
    """
    product_name = normalise_product_name(product) if product is not None else None
    found = product_find(space=space, name=product_name) if product_name else None
    filters = _Filters(
        space_id=space.id,
        product_name=product_name,
        product_id=found.id if found else None,
        include_related=include_related,
        tags=tuple(tags or ()),
        since=since,
        until=until,
        include_superseded=include_superseded,
    )
    q = (q or "").strip() or None
    if q is None:
        result = _newest_first(filters, half_life_days=half_life_days, limit=limit, offset=offset)
    else:
        result = _ranked(filters, q=q, space=space, half_life_days=half_life_days, limit=limit, offset=offset)
    if token_budget is not None:
        _apply_token_budget(result, token_budget)
    return result


def _newest_first(filters: _Filters, *, half_life_days: float, limit: int, offset: int) -> SearchResult:
    where, params = filters.where()
    # The clause is assembled from constants only; every value travels as a parameter.
    qs = Decision.objects.filter(RawSQL(where, params, output_field=BooleanField()))  # noqa: S611
    qs = qs.order_by("-decided_at", "id")
    count = qs.count()
    rows = list(decisions_with_refs(qs)[offset : offset + limit]) if offset < count else []
    now = timezone.now()
    hits = []
    for row in rows:
        recency = recency_factor(row.decided_at, half_life_days=half_life_days, now=now)
        detail = {"text": None, "semantic": None, "recency": round(recency, 6)}
        hits.append(SearchHit(row, round(recency, 6), detail, filters.match_of(row)))
    return SearchResult(hits=hits, count=count, semantic=False)


def _query_vector(space: Space, q: str) -> tuple[list[float], str] | None:
    """(the query's embedding, its model) when the space has a provider and vectors of that
    model and size; else None. A provider that does not know its size yet learns it here."""
    provider = embeddings.provider_for_space(space)
    if provider is None:
        return None
    comparable = Decision.objects.filter(space=space, embedding__isnull=False, embedding_model=provider.model)
    if provider.dimensions:
        comparable = comparable.filter(embedding_dimensions=provider.dimensions)
    if not comparable.exists():
        return None
    try:
        vector = provider.embed([q])[0]
    except embeddings.EmbeddingUnavailable:
        return None  # keyword ranking still answers; the response says semantic: false
    if not vector or (provider.dimensions and len(vector) != provider.dimensions):
        return None
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in vector):
        return None
    return [float(x) for x in vector], provider.model


def _ranked(filters: _Filters, *, q: str, space: Space, half_life_days: float, limit: int, offset: int) -> SearchResult:
    semantic = _query_vector(space, q)
    where, where_params = filters.where()
    match, match_params = filters.match_sql()
    branches = 2 if semantic else 1
    # Inline (not a CTE) so the planner sees the query's lexemes and estimates their frequency.
    tsquery = f"websearch_to_tsquery('{SEARCH_CONFIG}', %s)"
    sql = [
        f"""
        WITH fts AS MATERIALIZED (
            SELECT {TABLE}.id, {TABLE}.decided_at, {match} AS match,
                   ts_rank_cd({TABLE}.search_document, {tsquery}) AS strength
            FROM {TABLE}
            WHERE {TABLE}.search_document @@ {tsquery} AND {where}
        ),
        trgm AS (
            SELECT {TABLE}.id, {TABLE}.decided_at, {match} AS match,
                   word_similarity(%s, {TABLE}.decision) AS strength
            FROM {TABLE}
            WHERE numnode({tsquery}) > 0
              AND (SELECT count(*) FROM fts) < {TRIGRAM_FALLBACK_BELOW}
              AND %s <%% {TABLE}.decision AND {where}
              AND {TABLE}.id NOT IN (SELECT id FROM fts)
        ),
        text_ranked AS (
            SELECT id, decided_at, match, RANK() OVER (ORDER BY tier, strength DESC) AS rnk
            FROM (SELECT *, 0 AS tier FROM fts UNION ALL SELECT *, 1 AS tier FROM trgm) hits
        ),
        """
    ]
    params: list = [*match_params, q, q, *where_params, *match_params, q, q, q, *where_params]
    if semantic:
        vector, model = semantic
        literal = "[" + ",".join(repr(x) for x in vector) + "]"
        size = len(vector)
        # The same cast as the per-size HNSW index, so the planner can use it.
        vector_type = f"vector({size})" if size in HNSW_DIMENSIONS else "vector"
        sql.append(
            f"""
        nearest AS (
            SELECT {TABLE}.id, {TABLE}.decided_at, {match} AS match,
                   {TABLE}.embedding::{vector_type} <=> %s::{vector_type} AS distance
            FROM {TABLE}
            WHERE {TABLE}.embedding IS NOT NULL AND {TABLE}.embedding_model = %s
              AND {TABLE}.embedding_dimensions = {size} AND {where}
            ORDER BY distance
            LIMIT {VECTOR_CANDIDATES}
        ),
        vector_ranked AS (
            SELECT id, decided_at, match, RANK() OVER (ORDER BY distance) AS rnk FROM nearest
        ),
        """
        )
        params += [*match_params, literal, model, *where_params]
        # Reciprocal rank fusion: a decision's parts come from whichever branches found it.
        fused = f"""
        fused AS (
            SELECT id, max(decided_at) AS decided_at, max(match) AS match,
                   coalesce(max({RRF_K + 1}.0 / ({RRF_K} + text_rnk)), 0) AS text_part,
                   coalesce(max({RRF_K + 1}.0 / ({RRF_K} + vector_rnk)), 0) AS vector_part
            FROM (
                SELECT id, decided_at, match, rnk AS text_rnk, NULL::bigint AS vector_rnk FROM text_ranked
                UNION ALL
                SELECT id, decided_at, match, NULL, rnk FROM vector_ranked
            ) branches
            GROUP BY id
        ),"""
    else:
        fused = f"""
        fused AS (
            SELECT id, decided_at, match, {RRF_K + 1}.0 / ({RRF_K} + rnk) AS text_part, 0 AS vector_part
            FROM text_ranked
        ),"""
    sql.append(
        fused
        + f"""
        scored AS MATERIALIZED (
            SELECT id, decided_at, match, text_part, vector_part,
                   exp(-ln(2) * greatest(extract(epoch FROM now() - decided_at), 0) / 86400.0 / %s) AS recency
            FROM fused
        )
        SELECT total.n, page.id, page.match, page.text_part, page.vector_part, page.recency, page.score
        FROM (SELECT count(*) AS n FROM scored) total
        LEFT JOIN LATERAL (
            SELECT id, match, text_part, vector_part, recency, decided_at,
                   {RELEVANCE_WEIGHT} * (text_part + vector_part) / {branches} + {RECENCY_WEIGHT} * recency AS score
            FROM scored
            ORDER BY score DESC, decided_at DESC, id
            LIMIT %s OFFSET %s
        ) page ON TRUE
        """
    )
    params += [float(half_life_days), limit, offset]
    with transaction.atomic(), connection.cursor() as cursor:
        # pg_trgm's default (0.6) misses a dropped letter in a short word ("strpe" → 0.5).
        cursor.execute(f"SET LOCAL pg_trgm.word_similarity_threshold = {TRIGRAM_THRESHOLD}")
        if semantic:
            # An HNSW scan filtered by space and model keeps going until it has enough rows.
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(f"SET LOCAL hnsw.ef_search = {VECTOR_CANDIDATES}")
        cursor.execute("".join(sql), params)
        rows = cursor.fetchall()
    count = rows[0][0] if rows else 0
    page = [row for row in rows if row[1] is not None]
    by_id = {d.id: d for d in decisions_with_refs(Decision.objects.filter(pk__in=[r[1] for r in page]))} if page else {}
    hits = []
    for _, pk, match_value, text_part, vector_part, recency, score in page:
        detail = {
            "text": round(float(text_part), 6),
            "semantic": round(float(vector_part), 6) if semantic else None,
            "recency": round(float(recency), 6),
        }
        hits.append(SearchHit(by_id[pk], round(float(score), 6), detail, match_value))
    return SearchResult(hits=hits, count=count, semantic=bool(semantic))


def _apply_token_budget(result: SearchResult, budget: int) -> None:
    """Keep the longest prefix of the ranked hits whose rendered texts fit ``budget`` tokens."""
    used, kept = 0, []
    for hit in result.hits:
        tokens = count_tokens(decision_render_text(hit.decision))
        if used + tokens > budget:
            result.truncated = True
            break
        used += tokens
        kept.append(hit)
    result.hits = kept
    result.tokens_used = used
