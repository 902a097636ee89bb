"""Reads of the Decision Index: scoped lookups, rendering and the hybrid search (SPEC §6).

The ranking itself (full-text, typo correction by trigrams, vectors, reciprocal rank fusion, recency) is
one SQL statement built in ``ranking.py``; this module decides which branches run.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.search import SearchQuery
from django.db import transaction
from django.db.models import Case, Func, Q, QuerySet, TextField, Value, When
from django.utils import timezone

from apps.memory import embedding_pause, embeddings
from apps.memory.search import PositiveWords
from apps.memory.search_query import exclusion_split, websearch_query
from apps.memory.services import MAX_VECTOR_COMPONENT
from apps.memory.spaceless import spaceless_runs
from apps.products.names import normalise_product_name
from apps.products.selectors import product_find
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.rows import fetch_all, unprepared
from synchronex.api.tokens import count_tokens
from synchronex.rendering import one_line, value_lines
from synchronex.text import nfc

from .models import SEARCH_CONFIG, Decision
from .ranking import (
    CORRECTED_WORDS_MAX,
    HEAVY_FIELDS,
    PAGE_COLUMNS,
    PAGE_OF_IDS,
    RECENCY_HALF_LIVES,
    VECTOR_CANDIDATES,
    WORD_LEXEMES,
    Filters,
    corrected_query,
    holder_words,
    listing_sql,
    page_decision,
    ranked_page,
    ranking_sql,
)


# --- scoped lookups ------------------------------------------------------------------------------
def decisions_with_refs(qs: QuerySet[Decision] | None = None) -> QuerySet[Decision]:
    """Decisions with what their API shape needs in the same query (the product's name),
    without the heavy columns (search document, vector)."""
    qs = Decision.objects.all() if qs is None else qs
    return qs.select_related("product").only(
        *(f.name for f in Decision._meta.concrete_fields if f.name not in HEAVY_FIELDS),
        "product__name",
        "product__space_id",
    )


def decision_lookup(*, space: Space, decision_id, qs: QuerySet[Decision] | None = None) -> QuerySet[Decision]:
    """The decision ``decision_id`` names in ``space``: the one with that id, else the one
    imported from that id (``origin_id``: its id in the system it came from), so the ids of an
    imported document keep working in the importing space. Every lookup of a decision by id goes
    through here; take ``.first()``. A malformed id is NOT_FOUND.
    """
    try:
        pk = uuid.UUID(str(decision_id))
    except ValueError:
        raise errors.NotFound("No such decision in this scope.") from None
    qs = Decision.objects.all() if qs is None else qs
    # At most one row of each kind (primary key; unique per space); the row's own id wins.
    return qs.filter(Q(pk=pk) | Q(origin_id=pk), space=space).order_by(Case(When(pk=pk, then=Value(0)), default=1))


def decision_get(*, space: Space, decision_id) -> Decision:
    """A decision of ``space``; unknown, malformed or foreign ids are NOT_FOUND."""
    found = decision_lookup(space=space, decision_id=decision_id, qs=decisions_with_refs()).first()
    if found is None:
        raise errors.NotFound("No such decision in this scope.")
    return found


# The newest of each side, each read from its own index (the product's current decisions; the
# GIN index of ``affects_keys``), then the newest of both: as ``listing_sql`` pages a product's
# decisions with its related ones.
_RECENT_SQL = (
    f"SELECT {PAGE_COLUMNS} FROM ("
    f"(SELECT id, decided_at FROM {Decision._meta.db_table} WHERE product_id = %(product)s"
    "  AND superseded_by_id IS NULL ORDER BY decided_at DESC, id LIMIT %(limit)s)"
    f" UNION ALL (SELECT id, decided_at FROM {Decision._meta.db_table} WHERE space_id = %(space)s"
    "  AND affects_keys @> ARRAY[lower(%(name)s)]::text[] AND product_id <> %(product)s"
    "  AND superseded_by_id IS NULL ORDER BY decided_at DESC, id LIMIT %(limit)s)"
    f") page {PAGE_OF_IDS} ORDER BY page.decided_at DESC, page.id LIMIT %(limit)s"
)


def decision_recent_for_product(*, product, limit: int = 5, readable: bool = True) -> list[Decision]:
    """The product's newest current (not superseded) decisions, with those of other products that
    affect it (``affects_products``, as decision search relates them by default: a decision that
    replaced one of the product's lists it, ``decision_create``). Every product read shows them,
    so the statement is written out (synchronex/api/rows.py).

    Planned for this product, never prepared: a generic plan reads ``space_id = $3`` by the
    average space and found the decisions affecting the product by reading all the space's
    current ones (20,000 decisions: 16 ms, 1.7 planned for the product). A connection took that
    plan once the products it had read cost more to plan (a large space's products that nothing
    affects); planning costs about 0.7 ms a read.

    ``readable``: whether the caller's credential holds decisions:read (SPEC §2). Without it a
    product state is still read, with no decisions in it (REST and MCP alike)."""
    if not readable:
        return []
    params = {"product": product.pk, "space": product.space_id, "name": product.name, "limit": limit}
    with unprepared() as cursor:
        cursor.execute(_RECENT_SQL, params)
        rows = cursor.fetchall()
    return [page_decision(row) for row in rows]


def _as_stored(text: str) -> str:
    return text


def decision_render_text(decision: Decision, scrub: Callable[[str], str] = _as_stored) -> str:
    """The plain-text rendering of a decision: what ``token_budget`` counts, and what the
    kernel export prints. Each line starts with its label; a value's further lines (a reasoning
    from CI, say) are an indented continuation that never starts as a heading or marker
    (``value_lines``), so a decision cannot forge a section of the export.

    ``scrub``: the redaction of the text's reader (``reader_scrubber``), applied to each value
    before it is printed: an escape may fall inside a key (``12345678.`` starting a line), which
    a search of the printed text would then miss."""
    title = value_lines(scrub(decision.decision), inline=True)
    # Names print on one line (``one_line``): one stored before the rule may hold a U+2028.
    lines = [f"[{decision.decided_at:%Y-%m-%d}] {one_line(scrub(decision.product.name))}: {title}"]
    if decision.reasoning:
        lines.append(f"Why: {value_lines(scrub(decision.reasoning), inline=True)}")
    if decision.alternatives:
        lines.append("Alternatives considered: " + value_lines(scrub("; ".join(decision.alternatives)), inline=True))
    if decision.tags:
        lines.append("Tags: " + value_lines(scrub(", ".join(decision.tags)), inline=True))
    if decision.affects_products:
        lines.append("Affects: " + one_line(scrub(", ".join(decision.affects_products))))
    return "\n".join(lines)


def recency_factor(decided_at: datetime, *, half_life_days: float, now: datetime | None = None) -> float:
    """exp(-ln2 · age_days / half_life_days); future dates count as age 0. As in the ranking SQL, at
    most ``RECENCY_HALF_LIVES`` half-lives are counted, the age capped before the division (so a
    subnormal half-life gives 2^-1000, not age / half-life = inf)."""
    age_days = max(((now or timezone.now()) - decided_at).total_seconds(), 0.0) / 86400.0
    half_lives = min(age_days, RECENCY_HALF_LIVES * half_life_days) / half_life_days
    return math.exp(-math.log(2) * half_lives)


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


def decision_search(
    *,
    space: Space,
    q: str | None = None,
    excluding: str = "",
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
    product_state=None,
    scrub: Callable[[str], str] = _as_stored,
) -> SearchResult:
    """Search the decisions of ``space`` (arguments already validated by the caller).

    ``product_state``: the product ``product`` names in ``space``, from a caller that already
    looked it up (the kernel export); otherwise it is looked up here. ``scrub``: the redaction
    the caller answers the hits with (MCP), so ``token_budget`` counts their text as sent.
    ``excluding``: exclusions (``-word``, ``-"a phrase"``) every hit of a ``q`` satisfies too, kept
    apart from a ``q`` of alternatives (the kernel export's search by words, ``ranking_sql``).

    ``until`` is exclusive. Without ``q`` the newest decisions come first and the score is the
    recency factor. With ``q``: score = 0.8 × relevance + 0.2 × recency, where relevance is the
    mean over the active branches (text, and semantic when available) of k+1 / (k + rank), i.e.
    reciprocal rank fusion normalised so a first place in every branch is 1.0. ``score_detail``
    holds each branch's normalised contribution (semantic is null when vectors are not used).
    """
    product_name = normalise_product_name(product) if product is not None else None
    found = None
    if product_name:
        found = product_state or product_find(space=space, name=product_name)
    filters = Filters(
        space_id=space.id,
        product_name=product_name,
        product_id=found.id if found else None,
        include_related=include_related,
        tags=tuple(tags or ()),
        since=since,
        until=until,
        include_superseded=include_superseded,
    )
    q = nfc(q or "").strip() or None  # decisions are stored NFC: so is every caller's query (MCP, export)
    if q is None:
        result = _newest_first(filters, half_life_days=half_life_days, limit=limit, offset=offset)
    else:
        # Dashes and colons as README documents them, before any tsquery is built (a line of
        # dashes is punctuation, never a query without words: it finds nothing, as "..." does).
        q = websearch_query(q)
        # Only its exclusions: anything else in it (" --amend", no longer one) would be a word
        # every hit must hold (``ranking_sql`` ANDs it in).
        excluding = " ".join(term for term, excluded in exclusion_split(nfc(excluding)) if excluded)
        result = _ranked(
            filters, q=q, excluding=excluding, space=space, half_life_days=half_life_days, limit=limit, offset=offset
        )
    if token_budget is not None:
        _apply_token_budget(result, token_budget, scrub)
    return result


def decision_search_words(*, space: Space, words: list[str]) -> list[str]:
    """``words``, the alternatives of one search (``" or ".join(words)``), less those that add
    nothing to it: a word of one lexeme an earlier word had ("used" after "use"), and a word
    holding a lexeme no decision of the space holds once ``CORRECTED_WORDS_MAX`` such lexemes came
    before it (none of its own among them): it matches nothing, and typo correction replaces only
    those first ones (``CORRECTIONS``). So the search finds the same decisions, ranked alike:
    ``ts_rank`` counts each lexeme once, and one that no row holds only in a divisor common to all
    (which may round two near-equal strengths together or apart); with vectors, the meaning
    compared is the kept words'.
    What it no longer pays for is the planner's estimate: a lexeme outside the column's statistics
    counts as 0.5% of the rows, so 64 misspelt words, which match nothing, were taken for 27% of
    them and every row was read, and read again with the correction (0.2–0.5 s each at 24,000
    decisions), where 16 are looked up in the text index (under 1 ms). One statement, for more
    than ``CORRECTED_WORDS_MAX`` words."""
    if len(words) <= CORRECTED_WORDS_MAX:
        return words
    params = {"words": words, "f_space": space.id, "runs": list(spaceless_runs(" or ".join(words)))}
    kept: list[str] = []
    singles: set[str] = set()  # the lexeme of each word kept that has one
    unknown: set[str] = set()  # the unknown lexemes of the words kept
    for word, (lexemes, unknowns) in zip(words, fetch_all(WORD_LEXEMES, params), strict=True):
        if len(lexemes) == 1 and lexemes[0] in singles:
            continue
        if unknowns and len(unknown) >= CORRECTED_WORDS_MAX and unknown.isdisjoint(unknowns):
            continue
        kept.append(word)
        unknown.update(unknowns)
        if len(lexemes) == 1:
            singles.add(lexemes[0])
    return kept


def _newest_first(filters: Filters, *, half_life_days: float, limit: int, offset: int) -> SearchResult:
    with unprepared() as cursor:
        cursor.execute(*listing_sql(filters, limit=limit, offset=offset))
        rows = cursor.fetchall()
    count = rows[0][0] if rows else 0
    now = timezone.now()
    hits = []
    for values in rows:
        if values[1] is None:
            continue  # an empty page
        row = page_decision(values[2:])
        recency = round(recency_factor(row.decided_at, half_life_days=half_life_days, now=now), 6)
        hits.append(
            SearchHit(row, recency, {"text": None, "semantic": None, "recency": recency}, filters.match_of(row))
        )
    return SearchResult(hits=hits, count=count, semantic=False)


# A lexeme in a tsquery's text: quoted, a quote in it doubled.
_LEXEME = re.compile(r"'((?:[^']|'')*)'")


def _query_vector(space: Space, q: str) -> tuple[list[float], str, str] | None:
    """(the embedding of the words of ``q`` a match must contain, its model, those words) when the
    space has a provider and vectors of that model and size, and ``q`` has such a word that is no
    stop word; else None. A provider that does not know its size yet learns it here. A provider
    that is down is paused (apps.memory.embedding_pause): one search waits on it, not every one."""
    provider = embeddings.provider_for_space(space)
    if provider is None:
        return None
    comparable = Decision.objects.filter(space=space, embedding__isnull=False, embedding_model=provider.model)
    size_known = bool(provider.dimensions)
    if size_known:
        comparable = comparable.filter(embedding_dimensions=provider.dimensions)
    # Read with the check for vectors (no statement more): the query's required lexemes (none for
    # stop words or punctuation alone, or only exclusions: the full-text branch finds nothing
    # there, or rows without a word, and neither has a meaning to compare) and its required
    # words (lowercased, in order; ``PositiveWords``), excluded terms dropped, so that "-stripe"
    # does not pull the vector towards Stripe.
    terms = comparable.annotate(
        lexemes=Func(
            SearchQuery(q, search_type="websearch", config=SEARCH_CONFIG),
            function="querytree",
            output_field=TextField(),
        ),
        words=PositiveWords(Value(q)),
    ).values_list("lexemes", "words")[:1]
    found = next(iter(terms), None)
    if found is None or found[0] in ("", "T"):
        return None
    words = " ".join(word.replace("''", "'") for word in _LEXEME.findall(found[1]))
    try:
        vector = embedding_pause.embed_unless_paused(provider, [words], query=True)[0]
    except embeddings.EmbeddingUnavailable:
        return None  # keyword ranking still answers; the response says semantic: false
    if not vector or (provider.dimensions and len(vector) != provider.dimensions):
        return None
    # Components a stored vector (32-bit floats) can hold, as the providers check them: pgvector
    # refuses the statement otherwise. NaN fails the comparison too.
    if not all(isinstance(x, (int, float)) and abs(x) <= MAX_VECTOR_COMPONENT for x in vector):
        return None
    # A size learnt only now (a provider answering another size than the stored vectors, e.g. a
    # model changed behind the same name): with no vector of that size nothing would be compared,
    # and the response must not claim a semantic ranking.
    if not size_known and not comparable.filter(embedding_dimensions=len(vector)).exists():
        return None
    return [float(x) for x in vector], provider.model, words


def _ranked(
    filters: Filters, *, q: str, excluding: str, space: Space, half_life_days: float, limit: int, offset: int
) -> SearchResult:
    semantic = _query_vector(space, q)
    vector, model, words = semantic if semantic else (None, None, "")
    runs = spaceless_runs(f"{q} {excluding}")  # words of scripts written without spaces, matched inside words
    args = {
        "q": q,
        "excluding": excluding,
        "vector": vector,
        "model": model,
        "words": words,
        "holders": holder_words(space.id, runs) if runs else None,
        "half_life_days": half_life_days,
        "limit": limit,
        "offset": offset,
    }
    # A transaction only where a setting must hold for the statement (SET LOCAL): the vector
    # branch. The common full-text search is one round trip.
    with transaction.atomic() if vector is not None else nullcontext():
        with unprepared() as cursor:
            if vector is not None:
                # An HNSW scan filtered by space and model keeps going until it has enough rows.
                cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                cursor.execute(f"SET LOCAL hnsw.ef_search = {VECTOR_CANDIDATES}")
            page = ranked_page(cursor, *ranking_sql(filters, corrected=None, **args))
        # Few full-text matches: correct the words no decision has (typically typos), drop those
        # with nothing close, and rank again with the corrected query's matches after the others.
        corrected = corrected_query(filters, q) if page.may_want_corrections else None
        if corrected is not None:
            with unprepared() as cursor:
                page = ranked_page(cursor, *ranking_sql(filters, corrected=corrected, **args))
    hits = []
    for row in page.rows:
        detail = {
            "text": round(row.text, 6),
            "semantic": round(row.semantic, 6) if vector is not None else None,
            "recency": round(row.recency, 6),
        }
        hits.append(SearchHit(row.decision, round(row.score, 6), detail, row.match))
    return SearchResult(hits=hits, count=page.total, semantic=vector is not None)


def _apply_token_budget(result: SearchResult, budget: int, scrub: Callable[[str], str]) -> None:
    """Keep the longest prefix of the ranked hits whose rendered texts fit ``budget`` tokens."""
    used, kept = 0, []
    for hit in result.hits:
        tokens = count_tokens(decision_render_text(hit.decision, scrub))
        if used + tokens > budget:
            result.truncated = True
            break
        used += tokens
        kept.append(hit)
    result.hits = kept
    result.tokens_used = used
