"""Memory search across types (SPEC §7): a registry of sources, ranked together in one query.

Each type (``identity``, ``product``, ``decision``, ``memory``, ``signal``) is served by a
``SearchSource`` registered under its name. A source gives two things:

- ``candidates(ctx)``: a queryset of its matching rows in the space, annotated with the
  columns every source shares (``HIT_COLUMNS``, made by ``hits``), or ``None`` when it cannot
  match (e.g. a product filter on a type without products);
- ``items(ctx, ids)``: the result items ``{type, id, product, title, snippet, score,
  updated_at}`` of the given row ids (only the rows of the requested page).

The engine unions the candidates of the requested sources (``UNION ALL``), pages them in the
database in one global order and counts them in the same statement, then asks each source for
the items of its rows on that page. The number of queries is bounded by the number of types,
whatever the data. A typo-only match is scored only when the page reaches below the full-text
matches (``PAGE_SQL``).

Scores are comparable across types: a full-text match (``websearch_to_tsquery`` over the
source's weighted document) scores ``0.5 + 0.5 · ts_rank/(ts_rank + 1)``, in (0.5, 1); a
row found only by trigram word similarity (typos) scores ``0.5 · similarity``, at most 0.5.

The typo branch honours the query's operators as the full-text one does (decision search's typo
correction rewrites words inside the parsed query, so its operators hold there too). Only the
words a match must contain are compared (``PositiveWords``: PostgreSQL's own parse of ``q``,
excluded terms dropped), one ``or`` alternative at a time (``typo_alternatives``), and such a row
must still satisfy the query once the words of the alternative it is close to are taken as present
(``TypoDocument``), so that alternative's exclusions and phrases hold for it: ``bread -bread`` or
``redis -redis`` find nothing, ``-bread`` finds the rows without bread (full text, as decision
search), an excluded word or phrase the row has keeps it out, and a phrase whose words the row
has must be there in that order.
Snippets are ``ts_headline`` fragments with every match wrapped in ``**``.

The work of one request is bounded however full the rows or long the query (README, "Memory
search's bounds"): typo tolerance compares the first words of ``q`` (``typo_query``) with the
first ``TYPO_TEXT_MAX`` characters of a longer text (``apps.memory.models.typo_text``), and a
snippet is cut from ``SNIPPET_TEXT_MAX`` characters of a longer text (``SnippetWindow``).

A query word of a script written without spaces (Chinese, Japanese, Thai, …) also matches a row
whose document has it inside a word (apps/memory/spaceless.py): every branch evaluates the query
on the document with such words added (``InnerWords``, built once a row: ``InnerDocument``), a
full-text match of them scores as any other. Only rows a source's ``inner_filter`` finds (through
an index where it can), or that match as written, get words added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import regex
from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVectorField,
    TrigramWordSimilarity,
)
from django.db.models import Case, F, FloatField, Func, Q, QuerySet, TextField, Value, When
from django.db.models.expressions import Expression
from django.db.models.lookups import GreaterThanOrEqual
from django.db.models.sql.datastructures import BaseTable

from apps.memory.models import SEARCH_CONFIG
from apps.memory.search_query import alternatives, websearch_query
from apps.memory.spaceless import every_run_required, inner_document_sql, spaceless_runs
from apps.scopes.models import Space
from synchronex.api.rows import unprepared
from synchronex.text import clip

SEARCH_TYPES = ("identity", "product", "decision", "memory", "signal")
# Either one opens memory search (SPEC §2): memory:read for every hit but decisions, decisions:read
# for those; each source is served only to a token holding its ``required_scope``.
SEARCH_SCOPES = ("memory:read", "decisions:read")
# ``hit_rank``: a full-text match's score, NULL for a typo-only match; ``hit_text``: what a
# typo-only match's score compares with the query (NULL for full-text matches).
HIT_COLUMNS = ("hit_type", "hit_id", "hit_rank", "hit_text", "hit_updated")
# pg_trgm's default word_similarity_threshold: what the ``%>`` operator (and its index) accepts.
FUZZY_THRESHOLD = 0.6
HIGHLIGHT = "**"
# A private-use character: PostgreSQL's parser ends a word at it (``headline``).
RUN_MARK = "\ue000"
# Typo tolerance compares at most this many words of ``q``, within this many of its characters,
# with a row's text (``typo_query``): ``word_similarity`` costs each row it compares in proportion
# to the query's trigrams too, and a 499-character query of one-letter words took 0.5–1 s over
# 3,000 decisions (32 such words, hyphenated, still 0.19 s; 16, 0.1 s).
TYPO_WORDS_MAX = 16
TYPO_QUERY_MAX = 64
# A snippet is cut from at most this many characters of a row's text (``SnippetWindow``):
# ts_headline parses and stems all of the text it is given, ~30 ms for a product with full lists
# (~0.4 ms for 2,000 characters, ~0.7 for 4,000).
SNIPPET_TEXT_MAX = 2_000
# In a longer text, the window starts this many characters before the first place a word of the
# query appears, so the words around it are there to choose from.
SNIPPET_LEAD = 500
# A word as trigram matching splits text: letters, marks and digits (``a-b`` is two words).
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+")


def typo_query(q: str) -> str:
    """The start of ``q`` whose words are typo-tolerant: ``q`` up to its ``TYPO_WORDS_MAX``-th
    word, or its last word that ends within its first ``TYPO_QUERY_MAX`` characters, whichever
    comes first; ``q`` itself when it has no more. Later words must match as written."""
    end = 0
    for count, word in enumerate(_WORD.finditer(q), start=1):
        if count > TYPO_WORDS_MAX or word.end() > TYPO_QUERY_MAX:
            return q[:end]
        end = word.end()
    return q


@dataclass(frozen=True)
class SearchContext:
    """One search request: the space it is scoped to and the parsed query."""

    space: Space
    q: str
    product: str | None  # a product name filter, matched case-insensitively
    # Whether the caller's token holds a scope: for a source whose rows need more than its own
    # ``required_scope`` (a decision signal carries a decision's text).
    allows: Callable[[str], bool]
    # The caller: a workspace scope's identity hit is their effective kernel (their own
    # personal layer under the workspace layer), never another member's.
    user: object | None = None

    @property
    def query(self) -> SearchQuery:
        return SearchQuery(self.q, search_type="websearch", config=SEARCH_CONFIG)

    @property
    def typo_q(self) -> str:
        """The part of ``q`` whose words are typo-tolerant (``typo_query``): the rest must match
        as written."""
        return typo_query(self.q)

    @property
    def typo_alternatives(self) -> list[str]:
        """The alternatives of ``typo_q`` (split at its ``or``s) holding a word, each compared with
        a row apart: a row holding one alternative is as similar to it as to a query of it alone
        (compared with all of them at once, "kafka or nomadd" no longer found "nomad"); ``typo_q``
        whole when it has fewer than two."""
        found = [alternative for alternative in alternatives(self.typo_q) if _WORD.search(alternative)]
        return found if len(found) > 1 else [self.typo_q]

    def fuzzy_filter(self, field: str) -> list[Q]:
        """An indexable ``fuzzy_filter`` for ``hits``: for each of the ``typo_alternatives``, in
        order, ``field`` close to its words (``%>``, served by a trigram index of ``field``)."""
        return [
            Q(**{f"{field}__trigram_word_similar": PositiveWords(Value(alternative))})
            for alternative in self.typo_alternatives
        ]

    @property
    def spaceless_runs(self) -> tuple[str, ...]:
        """The runs of ``q`` in scripts written without spaces (none for most queries)."""
        return spaceless_runs(self.q)

    def containing(self, *fields: str) -> Q | None:
        """An ``inner_filter`` for ``hits``: rows with a run of ``q`` in one of these text fields
        (``LIKE '%run%'``, served by their trigram index for a run of 3 characters or more), with
        each of them when ``q`` requires each of its words; None when ``q`` has no run."""
        required = every_run_required(self.q)
        found = Q()
        for run in self.spaceless_runs:
            holding = Q()
            for field in fields:
                holding |= Q(**{f"{field}__contains": run})
            found = found & holding if required else found | holding
        return found or None


@dataclass(frozen=True)
class SearchSource:
    type: str
    candidates: Callable[[SearchContext], QuerySet | None]
    items: Callable[[SearchContext, list], dict]  # row id → item
    # A token scope the caller needs for this type's hits; without it they are left out.
    required_scope: str | None = None


SOURCES: dict[str, SearchSource] = {}


def register_source(source: SearchSource) -> None:
    """Add (or replace) the source of one type; the type must be one of ``SEARCH_TYPES``."""
    if source.type not in SEARCH_TYPES:
        raise ValueError(f"Unknown search type {source.type!r}")
    SOURCES[source.type] = source


# -- helpers for sources ------------------------------------------------------------------------
class JsonStrings(Func):
    """``sx_jsonb_strings(jsonb)``: every string value of a JSON document, joined (migration 0002)."""

    function = "sx_jsonb_strings"
    output_field = TextField()


class ConcatWS(Func):
    """``concat_ws(' · ', ...)``: NULL parts are skipped."""

    function = "concat_ws"
    output_field = TextField()

    def __init__(self, *expressions):
        super().__init__(Value(" · "), *expressions)


class PositiveWords(Func):
    """The words of a websearch query a match must contain, lowercased, joined by tsquery
    operators (which trigram similarity ignores); '' when there are none (``-bread``).

    PostgreSQL parses the query (``websearch_to_tsquery`` with the ``simple`` configuration keeps
    every word as typed, stop words included) and ``querytree`` drops the excluded terms
    (``-word``, ``-"a phrase"``), answering a bare ``T`` when nothing is left; a query with an
    ``or`` of an exclusion has no words a match must contain either.
    """

    template = "coalesce(nullif(querytree(websearch_to_tsquery('simple', %(expressions)s::text)), 'T'), '')"
    output_field = TextField()


class TypoDocument(Func):
    """``document || strip(to_tsvector(words))``: a row's document with ``PositiveWords`` added as
    if the row had them. A typo-only match must satisfy the query with this document, so the
    query's exclusions and phrase order still hold for it. Stripped of positions, the added words
    neither satisfy a phrase the row has the words of out of order nor shift its positions."""

    output_field = SearchVectorField()

    def as_sql(self, compiler, connection, **extra):
        document, words = (compiler.compile(expression) for expression in self.get_source_expressions())
        sql = f"({document[0]} || strip(to_tsvector('{SEARCH_CONFIG}', {words[0]})))"
        return sql, [*document[1], *words[1]]


class InnerWords(Func):
    """``sx_inner_words(document, words)``: a row's document with the query's words of scripts
    written without spaces added where its words contain them (apps/memory/spaceless.py)."""

    output_field = SearchVectorField()

    def __init__(self, document, ctx: SearchContext):
        super().__init__(document, Value(ctx.q), Value(list(ctx.spaceless_runs)))

    def as_sql(self, compiler, connection, **extra):
        (document, document_params), (q, q_params), (runs, runs_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        sql = inner_document_sql(document, q, runs, SEARCH_CONFIG)
        return sql, [*document_params, *q_params, *runs_params]


class InnerDocument(BaseTable):
    """``CROSS JOIN LATERAL (SELECT <document> AS document OFFSET 0) <alias>``: ``InnerWords`` of a
    row built once, for every use (``hits``). As an expression it was built at each: the filter,
    the rank's test and value, the typo text's test, 4 calls of ``sx_inner_words`` a hit (~20 µs
    each: 8 one-character words joined by ``or``, 0.5 s of CPU over 4,651 hits, now 0.2). OFFSET 0
    keeps the subquery whole, as decision search's (apps/decisions/ranking.py): pulled up, it would
    be built at each use again. Django has no lateral join; its compiler writes each entry of a
    query's ``alias_map`` where it writes its joins (``SQLCompiler.get_from_clause``)."""

    ALIAS = "hit_inner"

    def __init__(self, alias: str, document):
        super().__init__(alias, alias)
        self.document = document

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.document)
        return f"CROSS JOIN LATERAL (SELECT {sql} AS document OFFSET 0) {self.table_alias}", params

    def relabeled_clone(self, change_map):
        alias = change_map.get(self.table_alias, self.table_alias)
        return self.__class__(alias, self.document.relabeled_clone(change_map))

    @classmethod
    def joined(cls, queryset: QuerySet, document) -> tuple[QuerySet, Expression]:
        """``queryset`` with ``document`` (resolved on it) built once per row, and its column."""
        queryset = queryset.all()
        query = queryset.query
        query.get_initial_alias()  # the base table comes first in FROM
        query.alias_map[cls.ALIAS] = cls(cls.ALIAS, document.resolve_expression(query))
        query.alias_refcount[cls.ALIAS] = 1
        return queryset, InnerDocumentColumn(cls.ALIAS)


class InnerDocumentColumn(Expression):
    """The ``document`` column of an ``InnerDocument``."""

    output_field = SearchVectorField()

    def __init__(self, alias: str):
        super().__init__()
        self.alias = alias

    def as_sql(self, compiler, connection):
        return f"{self.alias}.document", []

    def relabeled_clone(self, change_map):
        return self.__class__(change_map.get(self.alias, self.alias))


def hits(
    queryset: QuerySet,
    ctx: SearchContext,
    *,
    type_: str,
    document,
    text,
    updated,
    fuzzy_filter: list[Q] | None = None,
    inner_filter: Q | None = None,
) -> QuerySet:
    """``queryset`` narrowed to rows matching ``ctx`` and annotated with the shared hit columns.

    ``document`` is the row's tsvector (a column or an expression), ``text`` the plain text that
    typo-tolerant matching compares with (at most ``TYPO_TEXT_MAX`` characters of a longer one,
    ``typo_text``). ``fuzzy_filter`` may replace the trigram conditions, one for each of
    ``ctx.typo_alternatives``, by indexable lookups (``ctx.fuzzy_filter``).
    ``inner_filter``: an indexable lookup of the rows whose document can hold a run of ``q`` in
    a script written without spaces (``ctx.containing``); without it, every row is looked at.
    """
    alternatives = ctx.typo_alternatives
    close = fuzzy_filter or [
        Q(GreaterThanOrEqual(TrigramWordSimilarity(PositiveWords(Value(words)), text), FUZZY_THRESHOLD))
        for words in alternatives
    ]
    fuzzy = Q()
    for one in close:
        fuzzy |= one
    # A typo-only match still satisfies the query's operators (see the module docstring); with no
    # word to compare (a first word longer than ``TYPO_QUERY_MAX``), there is none.
    typos = _WORD.search(ctx.typo_q) is not None
    found = Q(hit_document=ctx.query)
    candidates = Q()  # what a row must hold to match, read from the row alone
    if ctx.spaceless_runs:  # words inside words (see the module docstring), built once per row
        queryset = queryset.alias(hit_written=document)
        queryset, document = InnerDocument.joined(queryset, InnerWords(F("hit_written"), ctx))
        if inner_filter is not None:
            holding = Q(hit_written=ctx.query) | inner_filter
            found = holding & found
            # Filtered apart too, so that only these rows get their words added: within the
            # match, which needs them, it is evaluated after they were built, for every row.
            candidates = holding | fuzzy if typos else holding
    # Only the words of the alternative a row is close to are taken as present: with every
    # alternative's, "nomad -scheduling or kafka" found "Use Nomad for scheduling" (kafka added).
    typo_documents = {
        f"hit_typo_document_{i}": TypoDocument(F("hit_document"), PositiveWords(Value(words)))
        for i, words in enumerate(alternatives)
    }
    typo_matched = Q()
    for one, name in zip(close, typo_documents, strict=True):
        typo_matched |= one & Q(**{name: ctx.query})
    matched = found | typo_matched if typos else found
    return (
        queryset.annotate(hit_document=document)
        .alias(**typo_documents)
        .filter(candidates)
        .filter(matched)
        .annotate(
            hit_type=Value(type_, output_field=TextField()),
            hit_id=F("pk"),
            # Full-text matches always outrank typo-only matches (see the module docstring),
            # which the engine scores, 0.5 · similarity, only when the page reaches them.
            hit_rank=Case(
                When(
                    Q(hit_document=ctx.query),
                    then=Value(0.5) + Value(0.5) * SearchRank(F("hit_document"), ctx.query, normalization=32),
                ),
                default=None,
                output_field=FloatField(),
            ),
            hit_text=Case(When(Q(hit_document=ctx.query), then=None), default=text, output_field=TextField()),
            hit_updated=updated,
        )
        .order_by()
        .values(*HIT_COLUMNS)
    )


class SnippetWindow(Func):
    """What a snippet is cut from: ``text`` whole when it has at most ``SNIPPET_TEXT_MAX``
    characters, else ``SNIPPET_TEXT_MAX`` of them from ``SNIPPET_LEAD`` before the first place a
    word of the query appears (at the start of a word of the text, as typed or stemmed; a run of
    a script written without spaces anywhere), or from its start when none does (a typo-only hit).

    The text is computed once (``OFFSET 0`` keeps its subquery whole), the pattern once per
    statement (it depends on the query alone). Finding the place reads the whole text (~1–2 ms
    for a product with full lists, against ~30 ms for ts_headline to parse and stem it)."""

    output_field = TextField()

    def __init__(self, text, ctx: SearchContext):
        super().__init__(text, Value(ctx.q), Value("|".join(ctx.spaceless_runs)))

    def as_sql(self, compiler, connection, **extra):
        (text, text_params), (q, q_params), (runs, runs_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        # The words a match contains, as stemmed and as typed (``PositiveWords`` in each
        # configuration), stop words dropped, each escaped for the regular expression; the runs
        # are letters only.
        stemmed, typed = (
            f"coalesce(nullif(querytree(websearch_to_tsquery('{config}', {q}::text)), 'T'), '')"
            for config in (SEARCH_CONFIG, "simple")
        )
        words = (
            f"SELECT string_agg(regexp_replace(word, '([.^$|?*+()\\[\\]{{}}\\\\])', '\\\\\\1', 'g'), '|')"
            f" FROM unnest(tsvector_to_array(to_tsvector('simple', {stemmed} || ' ' || {typed}))) word"
            f" WHERE to_tsvector('{SEARCH_CONFIG}', word) <> ''"
        )
        pattern = f"(SELECT concat_ws('|', '(?i)\\m(?:' || ({words}) || ')', nullif({runs}, '')))"
        # The first match's text, then where it is: regexp_instr collects every match of the text
        # (0.17 s a product for a query of 60 words or-ed, which each of its words matched).
        first = f"strpos(whole.text, substring(whole.text FROM {pattern}))"
        sql = (
            f"(SELECT CASE WHEN length(whole.text) <= {SNIPPET_TEXT_MAX} THEN whole.text"
            f" ELSE substr(whole.text, greatest({first} - {SNIPPET_LEAD}, 1), {SNIPPET_TEXT_MAX}) END"
            f" FROM (SELECT {text} AS text OFFSET 0) whole)"
        )
        return sql, [*q_params, *q_params, *runs_params, *text_params]


def headline(ctx: SearchContext, text, *, nfc: bool = False) -> Func:
    """An excerpt of ``text`` (up to 35 words; short texts whole) around the best match, each
    matched word wrapped in ``**``; in a long text, around the first match (``SnippetWindow``).
    ``nfc``: cut from the NFC form of ``text`` (of its window: normalising took ~13 ms for
    100,000 characters; the window of a longer text not in NFC is found in the text as stored).

    The query's runs of scripts written without spaces are cut out of the words around them
    first (``RUN_MARK`` on each side, a word boundary to the parser, removed afterwards), so
    that ``ts_headline`` picks and highlights them as any other word."""
    text = SnippetWindow(text, ctx)
    if nfc:
        text = Func(text, template="normalize(%(expressions)s, NFC)", output_field=TextField())
    runs = ctx.spaceless_runs
    if runs:  # letters only: nothing in them is special to a regular expression
        marked = f"{RUN_MARK}\\1{RUN_MARK}"
        pattern = Value(f"({'|'.join(runs)})")
        text = Func(text, pattern, Value(marked), Value("g"), function="regexp_replace", output_field=TextField())
    excerpt = SearchHeadline(
        text,
        ctx.query,
        config=SEARCH_CONFIG,
        start_sel=HIGHLIGHT,
        stop_sel=HIGHLIGHT,
        max_words=35,
        min_words=15,
        short_word=3,
    )
    return Func(excerpt, Value(RUN_MARK), Value(""), function="replace", output_field=TextField()) if runs else excerpt


def shorten(text: str, limit: int = 120) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters (at a grapheme boundary)."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return clip(line, limit)


# -- the engine ---------------------------------------------------------------------------------
# One statement pages the hits in their global order and counts them all (the window frames the
# whole union, before LIMIT): a count of its own evaluated every source's filters a second time.
# A typo-only match scores at most 0.5, so when more full-text matches than the page reaches
# score above 0.5 (``strong``), none can be on the page: its score, a word_similarity over its
# text (~25 µs for a decision, ~1 ms for the ``TYPO_TEXT_MAX`` characters it reads of a product
# with full lists), is not computed (0 sorts it below them). OFFSET 0 keeps the hits a subquery
# of their own, so the window holds only their columns: pulled up, it held each row's text and
# document for the scores computed above it (14 MB, on disk, for 15,000 decisions).
PAGE_SQL = """
SELECT hit_type, hit_id,
       CASE WHEN hit_rank IS NOT NULL THEN hit_rank
            WHEN strong >= %s THEN 0
            ELSE 0.5 * greatest({similarities}) END AS hit_score,
       total
FROM (SELECT hit_type, hit_id, hit_rank, hit_text, hit_updated, count(*) OVER () AS total,
             count(*) FILTER (WHERE hit_rank > 0.5) OVER () AS strong
      FROM ({hits} OFFSET 0) hits) counted
ORDER BY hit_score DESC, hit_updated DESC, hit_type, hit_id LIMIT %s OFFSET %s"""
# A typo-only match's similarity to one of the query's alternatives (``typo_alternatives``).
SIMILARITY = f"word_similarity({PositiveWords.template % {'expressions': '%s'}}, hit_text)"


def memory_search(
    *,
    space: Space,
    q: str,
    types: list[str],
    product: str | None,
    limit: int,
    offset: int,
    allows: Callable[[str], bool],
    user=None,
) -> tuple[list[dict], int]:
    """One page of hits of ``types`` in ``space``, best first, and the total number of hits.

    Types whose source needs a scope ``allows`` denies are left out silently; types without a
    registered source (yet) contribute nothing.
    """
    ctx = SearchContext(space=space, q=websearch_query(q), product=product, allows=allows, user=user)
    sources = [
        SOURCES[t]
        for t in types
        if t in SOURCES and (SOURCES[t].required_scope is None or allows(SOURCES[t].required_scope))
    ]
    candidates = [qs for qs in (source.candidates(ctx) for source in sources) if qs is not None]
    if not candidates:
        return [], 0
    union = candidates[0].union(*candidates[1:], all=True) if len(candidates) > 1 else candidates[0]
    hits_sql, params = union.query.sql_with_params()
    with unprepared() as cursor:
        typo = ctx.typo_alternatives
        sql = PAGE_SQL.format(hits=hits_sql, similarities=", ".join([SIMILARITY] * len(typo)))
        cursor.execute(sql, [offset + limit, *typo, *params, limit, offset])
        page = cursor.fetchall()
        if not page:  # past the last hit, if any: count them on their own (filters only, no scores)
            return [], union.count() if offset else 0
    count = page[0][3]
    ids_by_type: dict[str, list] = {}
    for hit_type, hit_id, _, _ in page:
        ids_by_type.setdefault(hit_type, []).append(hit_id)
    items = {t: SOURCES[t].items(ctx, ids) for t, ids in ids_by_type.items()}
    results = []
    for hit_type, hit_id, score, _ in page:
        item = items[hit_type].get(hit_id)
        if item is not None:  # deleted between the two queries
            results.append({**item, "score": round(score, 6)})
    return results, count
