"""The ranking SQL of decision search (SPEC §6), built for one space and one set of filters.

One statement ranks every candidate inside PostgreSQL and returns the requested page and the
total: full-text matches (``websearch_to_tsquery`` on the weighted document, ranked by
``ts_rank``: term frequency with the A/B/C weights; cover density, ``ts_rank_cd``, made the
statement 1.4–1.5x slower over thousands of matches and ordered the relevance tests no better), optionally
the matches of the query with its unknown words corrected by trigram similarity (typo tolerance,
``CORRECTIONS``; ranked after every full-text match of the query as written, by ``ts_rank``) and
optionally the nearest vectors. Ranks are fused
with reciprocal rank fusion and blended with recency:

    part(branch)  = (k + 1) / (k + rank in that branch), 0 when the branch did not find it
    relevance     = mean of the parts over the branches in use (text, and semantic if used)
    recency       = exp(-ln 2 · age_days / half_life_days), at most 1,000 half-lives counted (``RECENCY``)
    score         = 0.8 · relevance + 0.2 · recency

Equal text strength shares a rank (``RANK()``), so at equal relevance recency decides.

A query word of a script written without spaces (Chinese, Japanese, Thai, …) also matches a
decision whose document has it inside a word (apps/memory/spaceless.py): the text branch
evaluates and ranks the query on the document with such words added (``sx_inner_words``), for
the decisions that can hold one (``holder_words``) and those the query matches as written.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from apps.memory.spaceless import every_run_required, inner_document_sql, like_patterns, spaceless_runs
from apps.products.models import ProductState
from synchronex.api.rows import Rows, fetch_all, unprepared

from .models import HNSW_DIMENSIONS, SEARCH_CONFIG, Decision, DecisionWord

RRF_K = 60
RELEVANCE_WEIGHT = 0.8
RECENCY_WEIGHT = 0.2
# Below this many full-text matches, a query with a word that no decision of the space contains
# (typically a typo) is corrected and ranked again: correctly spelt words that simply match few
# decisions keep their answer.
CORRECTION_BELOW = 10
# The least ``word_similarity`` of an unknown word to a space's word that may replace it. pg_trgm's
# default (0.6) misses one dropped letter in a short word.
TRIGRAM_THRESHOLD = 0.5
# At most this many of the space's words replace one unknown word (the closest, ties only).
CORRECTIONS_PER_WORD = 3
# At most this many unknown words of a query are corrected, the first in its order: each costs a
# lookup in the space's words and a rewrite of the whole query. All of them, excluded ones too,
# made a kernel export's task of 2,500 words excluded (20,000 characters) take 10–25 s.
CORRECTED_WORDS_MAX = 16
# How many nearest vectors take part in the fusion.
VECTOR_CANDIDATES = 100
TABLE = Decision._meta.db_table
TSQUERY = f"websearch_to_tsquery('{SEARCH_CONFIG}', %(q)s)"
# Exclusions a caller keeps apart from ``q`` (``ranking_sql``'s ``excluding``), as a tsquery.
EXCLUDING = f"websearch_to_tsquery('{SEARCH_CONFIG}', %(excluding)s)"
WORDS = DecisionWord._meta.db_table
# The lexemes of ``q`` that a match must contain and no decision of the space contains (a key
# lookup each in the space's words, ``DecisionWord``, kept by triggers), with their first position
# in ``q``. An excluded one (``-word``, in the tree only under a NOT: not in its ``querytree``,
# computed once) is never one: a word no decision holds excludes nothing, and correcting it would
# only exclude more. A lexeme holding a run of a script written without spaces (``%(runs)s``,
# apps/memory/spaceless.py) is never one either: it is looked for inside the decisions' words
# instead, where a trigram correction could only drop it (the word inside a long run is never
# similar enough to it).
UNKNOWN_LEXEMES = f"""
    SELECT w.lexeme, w.positions[1] AS position FROM unnest(to_tsvector('{SEARCH_CONFIG}', %(q)s)) w
    WHERE (SELECT nullif(querytree({TSQUERY}), 'T')::tsquery) @> sx_lexeme_query(w.lexeme)
      AND NOT EXISTS (SELECT 1 FROM {WORDS} known WHERE known.space_id = %(f_space)s AND known.word = w.lexeme)
      AND NOT EXISTS (SELECT 1 FROM unnest(%(runs)s::text[]) r WHERE strpos(w.lexeme, r) > 0)"""
# Whether ``q`` has such a word: asked before ``CORRECTIONS``, which costs ~0.35 ms more even when
# every word is known, and needs a transaction for its trigram bound (a search of known words with
# no match is common: an assistant asking about what was never decided). Both are prepared by the
# connection when repeated: their plans do not depend on the words.
UNKNOWN_WORD = f"SELECT EXISTS ({UNKNOWN_LEXEMES})"
# Each word of a search for any of them, in order: its lexemes, in order, and those of them no
# decision of the space holds that hold no run of ``%(runs)s`` (``UNKNOWN_LEXEMES``, word by word).
WORD_LEXEMES = f"""
    SELECT array(SELECT l.lexeme FROM unnest(to_tsvector('{SEARCH_CONFIG}', w.word)) l ORDER BY l.positions[1]),
           array(SELECT l.lexeme FROM unnest(to_tsvector('{SEARCH_CONFIG}', w.word)) l
                  WHERE NOT EXISTS (SELECT 1 FROM {WORDS} known
                                    WHERE known.space_id = %(f_space)s AND known.word = l.lexeme)
                    AND NOT EXISTS (SELECT 1 FROM unnest(%(runs)s::text[]) r WHERE strpos(l.lexeme, r) > 0))
    FROM unnest(%(words)s::text[]) WITH ORDINALITY w(word, n) ORDER BY w.n"""
# The typo fallback (SPEC §6): each word of ``q`` (as a lexeme) that no decision of the space
# contains, the first ``CORRECTED_WORDS_MAX`` of them in ``q``'s order (later ones stay as written),
# is replaced, in the query's tree (``ts_rewrite``), by the space's words closest to it
# by trigram ``word_similarity`` (at least ``TRIGRAM_THRESHOLD``; the best and its ties, at most
# ``CORRECTIONS_PER_WORD``), or dropped when none is close; a word under 3 characters (whose few
# trigrams make any word with its first letter close) is dropped too. No row when every word is
# known; else one: the corrected tsquery as text, NULL when no word is left or the query did not
# change (a guard: ``to_tsvector`` and ``websearch_to_tsquery`` split a few inputs differently, a
# URL with a quote, say, and ``UNKNOWN_LEXEMES`` keeps only those in the tree). The closest words
# are found through the space's words' trigram index, so the cost follows the size of the space's
# vocabulary, not of its decisions: the trigram scan of every decision's text it replaces cost
# ~18 ms of a 23 ms search at 100,000 decisions. The ``<%`` operator reads
# ``pg_trgm.word_similarity_threshold``, set by the caller for its transaction.
CORRECTIONS = f"""
WITH RECURSIVE unknown AS (
    SELECT lexeme FROM ({UNKNOWN_LEXEMES}) u ORDER BY position, lexeme LIMIT {CORRECTED_WORDS_MAX}
), fixes AS (
    SELECT row_number() OVER (ORDER BY u.lexeme) AS i, sx_lexeme_query(u.lexeme) AS target,
           (SELECT string_agg(sx_lexeme_query(c.word)::text, ' | ' ORDER BY c.word) FROM (
                SELECT word FROM (
                    SELECT v.word, word_similarity(u.lexeme, v.word) AS closeness,
                           max(word_similarity(u.lexeme, v.word)) OVER () AS best
                    FROM {WORDS} v
                    WHERE v.space_id = %(f_space)s AND length(u.lexeme) >= 3 AND u.lexeme <%% v.word
                ) near WHERE closeness = best ORDER BY word LIMIT {CORRECTIONS_PER_WORD}
           ) c) AS alternatives
    FROM unknown u
), rewritten (i, query) AS (
    SELECT 0::bigint, websearch_to_tsquery('{SEARCH_CONFIG}', %(q)s)
    UNION ALL
    SELECT x.i, ts_rewrite(r.query, x.target, coalesce(x.alternatives, '')::tsquery)
    FROM rewritten r JOIN fixes x ON x.i = r.i + 1
)
SELECT CASE WHEN numnode(query) > 0 AND query <> websearch_to_tsquery('{SEARCH_CONFIG}', %(q)s) THEN query::text END
FROM rewritten WHERE EXISTS (SELECT 1 FROM fixes) ORDER BY i DESC LIMIT 1"""
# Recency counts a row's age up to this many half-lives (2^-1000, about 1e-301: nothing next to any
# relevance). Past 1,074 it would be below the smallest float8 above 0, where PostgreSQL's exp()
# raises "value out of range: underflow" instead of returning 0 (a decision of 1900 with a
# half-life of 30 days, of last month with 0.01 days).
RECENCY_HALF_LIVES = 1000
# The age of a row's ``decided_at`` in half-lives, at most ``RECENCY_HALF_LIVES``. The age in days
# is capped before the division: a subnormal half-life the API accepts (1e-310 days) made
# age / half-life overflow float8 ("value out of range: overflow"); 1000 × half-life cannot
# (at most 36,500,000). ``date_part`` gives the age in seconds as float8; ``extract`` gives
# numeric, whose arithmetic made this 0.8 ms of a 12 ms search over 1,234 matches.
HALF_LIVES = (
    "least(greatest(date_part('epoch', now() - decided_at), 0) / 86400.0,"
    f" {RECENCY_HALF_LIVES} * %(half_life)s) / %(half_life)s"
)
# The recency factor, 2^-half_lives.
RECENCY = f"exp(-ln(2) * {HALF_LIVES})"


# A decision's texts that its search document is made of (``Decision.search_document``), joined
# (a run, letters only, cannot span a join) and compared with the patterns of a query's runs: all
# of them when the query requires each of its words, else any.
HOLDING = f"({TABLE}.decision || ' ' || {TABLE}.reasoning || ' ' || {TABLE}.tags::text) LIKE {{}} (%(patterns)s)"
# The decisions that can have a run of a query (apps/memory/spaceless.py) inside a word of their
# document are found through the space's words (``DecisionWord``) that hold it, as a tsquery of
# those words, while they are this few. A tsquery costs the GIN index each candidate times its
# size: the search took 2.4 s for '数据库', which 4,158 words of 20,000 Chinese decisions hold
# (3,817 matches). Past that, the space's decisions' texts are read instead (``HOLDING``): 88 ms.
# No trigram index could serve them: most Chinese and Japanese words have 1 or 2 characters, and
# only the decision's text has one.
HOLDER_WORDS_MAX = 64


def holder_words(space_id: uuid.UUID, runs: tuple[str, ...]) -> list[str] | None:
    """The words of the space's decisions that hold one of ``runs``; None when more than
    ``HOLDER_WORDS_MAX`` do. The trigram index of the words serves a run of 3 characters or more;
    a shorter one reads the space's words (fewer than its decisions). Never prepared: a generic
    plan used the trigram index for a run of 2 characters too, which then read all of it (every
    space's words: 100 ms instead of 0.1 for a space of 657 words next to 67,000 others)."""
    likes = " OR ".join(["word LIKE %s"] * len(runs))
    sql = f"SELECT word FROM {WORDS} WHERE space_id = %s AND ({likes}) LIMIT {HOLDER_WORDS_MAX + 1}"
    with unprepared() as cursor:
        cursor.execute(sql, [space_id, *like_patterns(runs)])
        words = [row[0] for row in cursor.fetchall()]
    return words if len(words) <= HOLDER_WORDS_MAX else None


def words_query(words: list[str]) -> str:
    """``words`` as the text of a tsquery matching any of them (as ``sx_lexeme_query`` quotes one)."""
    return " | ".join("'" + word.replace("\\", "\\\\").replace("'", "''") + "'" for word in words)


@dataclass(frozen=True)
class Filters:
    """What narrows a search, as SQL on the unaliased decisions table with named parameters."""

    space_id: uuid.UUID
    product_name: str | None
    product_id: uuid.UUID | None
    include_related: bool
    tags: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    include_superseded: bool

    def params(self) -> dict:
        return {
            "f_space": self.space_id,
            "f_product_id": self.product_id,
            "f_product_name": self.product_name,
            "f_tags": list(self.tags),
            "f_since": self.since,
            "f_until": self.until,
        }

    def where(self, part: str = "all") -> str:
        """The WHERE clause. ``part``: ``all`` (what the search covers), ``direct`` (the named
        product's own decisions) or ``related`` (other products' decisions that affect it)."""
        parts = [f"{TABLE}.space_id = %(f_space)s"]
        if self.product_name is not None:
            direct = f"{TABLE}.product_id = %(f_product_id)s" if self.product_id else "FALSE"
            related = f"{TABLE}.affects_keys @> ARRAY[lower(%(f_product_name)s)]::text[]"
            if part == "direct" or not self.include_related:
                parts.append(direct)
            elif part == "related":
                parts.append(f"{related} AND {TABLE}.product_id IS DISTINCT FROM %(f_product_id)s")
            else:
                parts.append(f"({direct} OR {related})")
        if self.tags:
            parts.append(f"{TABLE}.tags @> %(f_tags)s::varchar(50)[]")
        if self.since is not None:
            parts.append(f"{TABLE}.decided_at >= %(f_since)s")
        if self.until is not None:
            parts.append(f"{TABLE}.decided_at < %(f_until)s")
        if not self.include_superseded:
            parts.append(f"{TABLE}.superseded_by_id IS NULL")
        return " AND ".join(parts)

    def match_sql(self) -> str:
        if self.product_name is None:
            return "'direct'"
        if self.product_id is None:
            return "'affects'"
        return f"CASE WHEN {TABLE}.product_id = %(f_product_id)s THEN 'direct' ELSE 'affects' END"

    def match_of(self, decision: Decision) -> str:
        if self.product_name is None or decision.product_id == self.product_id:
            return "direct"
        return "affects"


# What a page's decisions carry to the API, read in the same statement as their ranks: the light
# columns (not the search document, its keys or the vector) and their products' names.
HEAVY_FIELDS = {"search_document", "affects_keys", "embedding"}
PAGE_DECISION = Rows(Decision, "d", [f.name for f in Decision._meta.concrete_fields if f.name not in HEAVY_FIELDS])
PAGE_PRODUCT = Rows(ProductState, "p", ["name", "space"])
PAGE_COLUMNS = f"{PAGE_DECISION.columns}, {PAGE_PRODUCT.columns}"
PAGE_JOIN = f"JOIN {ProductState._meta.db_table} p ON p.id = d.product_id"
# The page's rows joined to a ``page`` of ids: two plain left joins, which PostgreSQL plans faster
# than a parenthesised join (measured: 0.3–0.4 ms less per search).
PAGE_OF_IDS = f"LEFT JOIN {TABLE} d ON d.id = page.id LEFT JOIN {ProductState._meta.db_table} p ON p.id = d.product_id"


def page_decision(values) -> Decision:
    """A decision (with ``product`` loaded) from the ``PAGE_COLUMNS`` of a row."""
    decision = PAGE_DECISION.build(values[: PAGE_DECISION.width])
    decision.product = PAGE_PRODUCT.build(values[PAGE_DECISION.width :])
    return decision


@dataclass(frozen=True)
class RankedRow:
    decision: Decision
    match: str
    text: float
    semantic: float
    recency: float
    score: float


@dataclass(frozen=True)
class RankedPage:
    rows: list[RankedRow]
    total: int
    text_matches: int  # full-text matches of the query as written (decide the typo fallback)
    lexemes: int | None  # nodes of the tsquery (0: q held only stop words); None when nothing matched
    every_word_required: bool  # the tsquery has no OR and no NOT: a match contains every word

    @property
    def may_want_corrections(self) -> bool:
        """Whether a corrected query may be wanted: few full-text matches for a query with words.
        It is, when one of its words is in none of the space's decisions (``CORRECTIONS``).
        A match of a query that requires every word shows that each is known, so then the
        question is not even asked (one statement less for most searches of a small space). When
        nothing matched, the statement had no row to say how many lexemes ``q`` has; the question
        is then asked anyway, and a query of stop words alone has no unknown word."""
        if self.text_matches >= CORRECTION_BELOW or self.lexemes == 0:
            return False
        return not (self.text_matches > 0 and self.every_word_required)


def page_rank_bound(upto: int) -> int | None:
    """The worst text rank that can still be among the first ``upto`` rows by score when text is
    the only branch; None when any rank can.

    The ``upto``-th row in text order has a rank of at most ``upto``, so at least ``upto`` rows
    score ``floor = RELEVANCE_WEIGHT · (k + 1) / (k + upto)`` or more; a row of rank ``r`` scores
    at most ``RELEVANCE_WEIGHT · (k + 1) / (k + r) + RECENCY_WEIGHT`` (recency is at most 1),
    which is below ``floor`` once ``k + r > RELEVANCE_WEIGHT · (k + 1) / (floor - RECENCY_WEIGHT)``.
    Those rows cannot reach the page, so their recency and score are not computed (the totals
    are counted before): for 20 rows, ranks past 60 leave; a one-word search over 1,229 matches
    took 5.48 → 4.58 ms, over 19,176 matches 86 → 70 ms (the same pages, measured). One rank
    more than the bound is kept, against rounding."""
    floor = RELEVANCE_WEIGHT * (RRF_K + 1) / (RRF_K + upto)
    if floor <= RECENCY_WEIGHT:
        return None
    return math.floor(RELEVANCE_WEIGHT * (RRF_K + 1) / (floor - RECENCY_WEIGHT) - RRF_K) + 1


def ranking_sql(
    filters: Filters,
    *,
    q: str,
    vector: list[float] | None,
    model: str | None,
    words: str = "",
    holders: list[str] | None = None,
    excluding: str = "",
    corrected: str | None,
    half_life_days: float,
    limit: int,
    offset: int,
) -> tuple[str, dict]:
    """The statement and its parameters (``words``: what ``vector`` embeds, the words of ``q`` a
    match must contain; ``holders``: ``holder_words`` of ``q``'s runs, None to read the
    decisions' texts instead; ``excluding``: exclusions, ``-word`` and ``-"a phrase"`` as websearch
    reads them, that every match satisfies too, kept apart from ``q`` so that ``q`` may be
    alternatives: websearch has no brackets, and "a -x or b -x" repeated them in each, a tsquery of
    thousands of nodes evaluated on every candidate (``q`` alone ranks: a match holds none of
    them)); one row per decision of the page, columns: total,
    text_matches, lexemes, every word required (no ``|`` or ``!`` in the tsquery; a lexeme holding
    one only costs the unknown-word check), then the decision's id, match, text part, semantic
    part, recency, score and ``PAGE_COLUMNS``. An empty page has no row (``ranked_page`` counts).

    Every candidate flows through one pipeline: scan, one sort by strength that gives the rank and
    (its window framing the whole set) the totals, then the top of the page by score. Materialising
    the candidates and counting them in subqueries cost 0.7–1.3 ms more per search over 1,281
    matches, counting in a window of its own 1.2 ms more, and a row of totals with the page
    joined to it laterally 0.6 ms more (measured)."""
    where, match = filters.where(), filters.match_sql()
    params = {**filters.params(), "q": q, "half_life": float(half_life_days), "limit": limit, "offset": offset}
    rows = TABLE
    document = searched = f"{TABLE}.search_document"  # what the query is evaluated and ranked on
    holding = None
    query = TSQUERY  # what a match satisfies
    text = q  # every word of it, the excluded ones too
    if excluding:
        params["excluding"] = excluding
        query, text = f"({TSQUERY} && {EXCLUDING})", f"{q} {excluding}"
    runs = spaceless_runs(text)
    if runs and holders != []:  # words inside words (module docstring): given to the rows that can hold them
        params.update(runs=list(runs), text=text)
        if holders is None:
            params["patterns"] = like_patterns(runs)
            holding = HOLDING.format("ALL" if every_run_required(text) else "ANY")
        else:
            params["holders"] = words_query(holders)
            holding = f"{TABLE}.search_document @@ %(holders)s::tsquery"
        searched = inner_document_sql(document, "%(text)s", "%(runs)s", SEARCH_CONFIG)
        # OFFSET 0 keeps the subquery whole: pulled up, its document was built once per use.
        rows = f"{TABLE} CROSS JOIN LATERAL (SELECT {searched} AS document OFFSET 0) inner_words"
        document = "inner_words.document"

    def matching(query: str) -> str:
        if holding is None:
            return f"{document} @@ {query}"
        # Only rows that match as written or hold a run get words added.
        return f"({TABLE}.search_document @@ {query} OR {holding}) AND {document} @@ {query}"

    # The tsquery stays inline (not a CTE) so the planner sees its lexemes and their frequency.
    ctes = [
        f"""fts AS (
            SELECT {TABLE}.id, {TABLE}.decided_at, {match} AS match,
                   ts_rank({document}, {TSQUERY}) AS strength, 0 AS tier
            FROM {rows}
            WHERE {matching(query)} AND {where})"""
    ]
    text_hits = "SELECT * FROM fts"
    if corrected is not None:  # the query with its typos corrected (``CORRECTIONS``)
        params["corrected"] = corrected
        corrected_match = f"(%(corrected)s::tsquery && {EXCLUDING})" if excluding else "%(corrected)s::tsquery"
        ctes.append(
            f"""corrected AS (
            SELECT {TABLE}.id, {TABLE}.decided_at, {match} AS match,
                   ts_rank({document}, %(corrected)s::tsquery) AS strength, 1 AS tier
            FROM {rows}
            WHERE {matching(corrected_match)} AND {where}
              AND {TABLE}.id NOT IN (SELECT id FROM fts))"""
        )
        text_hits += " UNION ALL SELECT * FROM corrected"
    ctes.append(
        f"""text_ranked AS (
            SELECT id, decided_at, match, tier, RANK() OVER whole AS rnk,
                   count(*) OVER whole AS n, count(*) FILTER (WHERE tier = 0) OVER whole AS text_n
            FROM ({text_hits}) hits
            WINDOW whole AS (ORDER BY tier, strength DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))"""
    )
    part = f"{RRF_K + 1}::float8 / ({RRF_K} + {{rank}})"
    totals = "n, text_n"  # counted by the text rank's window
    if vector is not None:
        size = len(vector)
        # The same cast as the per-size HNSW index, so that the planner can use it.
        vector_type = f"vector({size})" if size in HNSW_DIMENSIONS else "vector"
        params.update(vector="[" + ",".join(repr(float(x)) for x in vector) + "]", model=model, words=words)
        # The query's exclusions hold for rows found by meaning too: the query must hold for the
        # row once ``words`` (those a match must contain, in their order) are added to it, so
        # an excluded word or phrase the row has keeps it out ("bread -bread" finds nothing).
        # Only a '-' makes an exclusion in ``websearch_to_tsquery``.
        excluded = f" AND ({searched} || to_tsvector('{SEARCH_CONFIG}', %(words)s)) @@ {query}"
        ctes.append(
            f"""nearest AS (
            SELECT {TABLE}.id, {TABLE}.decided_at, {match} AS match,
                   {TABLE}.embedding::{vector_type} <=> %(vector)s::{vector_type} AS distance
            FROM {TABLE}
            WHERE {TABLE}.embedding IS NOT NULL AND {TABLE}.embedding_model = %(model)s
              AND {TABLE}.embedding_dimensions = {size} AND {where}{excluded if "-" in text else ""}
            ORDER BY distance
            LIMIT {VECTOR_CANDIDATES})"""
        )
        ctes.append(
            """vector_ranked AS (SELECT id, decided_at, match, RANK() OVER (ORDER BY distance) AS rnk FROM nearest)"""
        )
        ctes.append(
            f"""fused AS (
            SELECT id, max(decided_at) AS decided_at, max(match) AS match, min(tier) AS tier,
                   coalesce(max({part.format(rank="text_rnk")}), 0) AS text_part,
                   coalesce(max({part.format(rank="vector_rnk")}), 0) AS vector_part
            FROM (
                SELECT id, decided_at, match, tier, rnk AS text_rnk, NULL::bigint AS vector_rnk FROM text_ranked
                UNION ALL
                SELECT id, decided_at, match, NULL, NULL, rnk FROM vector_ranked
            ) branches
            GROUP BY id)"""
        )
        totals = "count(*) OVER () AS n, count(*) FILTER (WHERE tier = 0) OVER () AS text_n"  # after the fusion
        branches = 2
    else:
        bound = page_rank_bound(offset + limit)
        ctes.append(
            f"""fused AS (
            SELECT id, decided_at, match, n, text_n, {part.format(rank="rnk")} AS text_part,
                   0::float8 AS vector_part
            FROM text_ranked{f" WHERE rnk <= {bound}" if bound is not None else ""})"""
        )
        branches = 1
    ctes.append(
        f"""scored AS (
            SELECT id, decided_at, match, text_part, vector_part, recency,
                   {RELEVANCE_WEIGHT} * (text_part + vector_part) / {branches} + {RECENCY_WEIGHT} * recency AS score,
                   {totals}
            FROM (SELECT *, {RECENCY} AS recency FROM fused) aged)"""
    )
    sql = f"""
        WITH {", ".join(ctes)}
        SELECT page.n, page.text_n, numnode({TSQUERY}),
               strpos({TSQUERY}::text, '|') = 0 AND strpos({TSQUERY}::text, '!') = 0,
               page.id, page.match, page.text_part, page.vector_part, page.recency, page.score, {PAGE_COLUMNS}
        FROM (
            SELECT id, decided_at, match, text_part, vector_part, recency, score, n, text_n FROM scored
            ORDER BY score DESC, decided_at DESC, id
            LIMIT %(limit)s OFFSET %(offset)s
        ) page
        JOIN {TABLE} d ON d.id = page.id JOIN {ProductState._meta.db_table} p ON p.id = d.product_id
        ORDER BY page.score DESC, page.decided_at DESC, page.id"""
    return sql, params


def ranked_page(cursor, sql: str, params: dict) -> RankedPage:
    cursor.execute(sql, params)
    rows = cursor.fetchall()
    first = rows
    if not rows and params["offset"]:  # past the last match, if any: their first row has the totals
        cursor.execute(sql, {**params, "offset": 0, "limit": 1})
        first = cursor.fetchall()
    total, text_matches, lexemes, required = first[0][:4] if first else (0, 0, None, False)
    page = [RankedRow(page_decision(r[10:]), r[5], float(r[6]), float(r[7]), float(r[8]), float(r[9])) for r in rows]
    return RankedPage(rows=page, total=total, text_matches=text_matches, lexemes=lexemes, every_word_required=required)


def corrected_query(filters: Filters, q: str) -> str | None:
    """``q`` as a tsquery (text) with its unknown words corrected or dropped; None when every word
    is known, none is left or nothing changed. On ordinary cursors (not ``unprepared``): the two
    statements are prepared once a connection repeats them. Only a query with an unknown word
    pays for the correction's transaction (its trigram bound holds for it alone)."""
    params = {"q": q, "f_space": filters.space_id, "runs": list(spaceless_runs(q))}
    if not fetch_all(UNKNOWN_WORD, params)[0][0]:
        return None
    with transaction.atomic():
        fetch_all("SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)", [str(TRIGRAM_THRESHOLD)])
        rows = fetch_all(CORRECTIONS, params)
    return rows[0][0] if rows else None


def listing_sql(filters: Filters, *, limit: int, offset: int) -> tuple[str, dict]:
    """Newest first without a query: columns total, then the page's id and ``PAGE_COLUMNS`` (NULL
    when the page is empty).

    With a product and its related decisions, the two sets are counted and paged separately
    and merged, so that each side uses its own index instead of one scan filtering an OR. The
    related decisions are read once for both their count and their page (a materialised CTE).
    """
    params = {**filters.params(), "limit": limit, "offset": offset, "upto": offset + limit}

    def newest(where: str) -> tuple[str, str]:  # a side's count, and its first offset + limit rows
        rows = f"SELECT {TABLE}.id, {TABLE}.decided_at FROM {TABLE} WHERE {where}"
        return f"SELECT count(*) FROM {TABLE} WHERE {where}", f"{rows} ORDER BY decided_at DESC, id LIMIT %(upto)s"

    related = ""
    if filters.product_name is None or not filters.include_related:
        sides = [newest(filters.where())]
    else:
        sides = [newest(filters.where("direct"))] if filters.product_id else []
        # Affecting decisions are few and found through their GIN index. Materialised, they are
        # read once for their count and their page (each read took 4.6 ms for 1,535 of them,
        # measured), and the planner cannot walk the whole space newest-first to filter them.
        related = f"WITH related AS MATERIALIZED (SELECT id, decided_at FROM {TABLE} WHERE {filters.where('related')})"
        page = "SELECT * FROM related ORDER BY decided_at DESC, id LIMIT %(upto)s"
        sides.append(("SELECT count(*) FROM related", page))
    total = " + ".join(f"({count})" for count, _ in sides)
    pages = [f"({page})" for _, page in sides]
    candidates = " UNION ALL ".join(pages)
    sql = f"""
        {related}
        SELECT total.n, page.id, {PAGE_COLUMNS}
        FROM (SELECT {total} AS n) total
        LEFT JOIN LATERAL (
            SELECT id, decided_at FROM ({candidates}) candidates
            ORDER BY decided_at DESC, id
            LIMIT %(limit)s OFFSET %(offset)s
        ) page ON TRUE
        {PAGE_OF_IDS}
        ORDER BY page.decided_at DESC, page.id"""
    return sql, params
