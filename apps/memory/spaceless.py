"""Words inside text written without spaces between words: Chinese, Japanese, Thai, Lao, Khmer, Myanmar.

PostgreSQL's text-search parser ends a word only at a space or punctuation, so a run of these
scripts is one word of a search document: ``to_tsvector('english', '我们决定使用数据库迁移工具')``
holds the single lexeme '我们决定使用数据库迁移工具'. Full-text search cannot match a word inside
it, and neither can trigram similarity ('数据库' scores 0.25 against that run). So a query word
holding such characters also matches every word of a document that contains it:
``sx_inner_words`` (migration memory 0009) adds it to the row's document at that word's
positions and weights, and the query is evaluated and ranked on that document. Quotes, ``-word``
and ``or`` then hold as they do for any word, and so do the A/B/C weights. Only rows that may hold
a query run get words added; each search says how it finds them (through an index where one
serves). Hangul is written with spaces and needs none of this.

The runs are taken in Python, so that the index lookups can see them: letters and marks of
these scripts (by Unicode Script_Extensions, so that the prolonged sound mark ー and the kana
voicing marks count as Japanese), never their punctuation (、。・「」), at which the parser
ends a word too.

The work is bounded per query, however a client shapes it: each word matched inside runs costs
every candidate row a scan of its document (``sx_inner_words``), and with a ``-`` or an ``or``
in the query every row holding any of its runs is a candidate (250 one-character words took
2–3 s over 3,000 Chinese decisions). So only the first ``INNER_RUNS_MAX`` distinct runs of a
query, and at most ``INNER_WORDS_MAX`` of its words holding them, are matched inside words; the
rest match as whole words, as in any other script.

A run longer than PostgreSQL's word limit (2,047 bytes: 683 Chinese characters) would be dropped
from the document, so the texts of the documents of memories, product states and kernels go
through ``sx_searchable`` (``Searchable``, migration memory 0013), which splits such a run into
overlapping pieces of 500 characters, 250 apart: a query's word of up to 251 characters is found
inside one of them. So do a decision's text and reasoning and a signal's title and body in their
generated documents (migrations decisions 0018, ingest 0006); tags, a signal's type and source are
too short to hold such a run.
"""

from __future__ import annotations

import regex
from django.db.models import Func, TextField

# The first runs of a query matched inside words (README, "Words inside text written without spaces").
INNER_RUNS_MAX = 8
# At most this many of the query's words holding those runs: a run can be a word of its own and
# part of another (a hyphenated word and its parts, ``数据库x1``), each one more word to add.
INNER_WORDS_MAX = 2 * INNER_RUNS_MAX

# websearch's alternatives: ``or`` as a word of its own, in any case.
_OR = regex.compile(r"(?i)(?<!\S)or(?!\S)")
# websearch's exclusions: a ``-`` where a word can start. One right after a letter, mark or digit
# joins a hyphenated word (``数据-迁移``: the word and each of its parts required), never excludes.
_EXCLUSION = regex.compile(r"(?<![\p{L}\p{M}\p{N}])-")
_RUN = regex.compile(
    r"(?V1)[[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}]"
    r"&&[\p{L}\p{M}]]+"
)


def spaceless_runs(text: str) -> tuple[str, ...]:
    """The first ``INNER_RUNS_MAX`` distinct runs of letters of scripts written without spaces in
    ``text``, in order."""
    return tuple(dict.fromkeys(_RUN.findall(text)))[:INNER_RUNS_MAX]


def every_run_required(q: str) -> bool:
    """Whether every row ``q`` matches holds each of its runs: ``q`` has no ``or`` and no ``-`` that
    can exclude (any other than a hyphen inside a word, read the safe way), so each of its words
    is required. A query of runs joined by hyphens (``我-们-决-定``) then needs rows holding all of
    them, not every row holding one: 0.3–0.4 s over 3,000 Chinese decisions."""
    return not _EXCLUSION.search(q) and not _OR.search(q)


def query_words_sql(q: str, runs: str, config: str) -> str:
    """SQL for the lexemes of the query ``q`` that contain one of ``runs`` (a text[]), as a text[];
    ``q`` and ``runs`` are placeholders. They are ``q``'s own lexemes as its tsquery has them (with
    any letters or digits the parser kept in the same word), so that adding them to a document
    satisfies the query's nodes. The first ``INNER_WORDS_MAX`` of them in ``q``'s order."""
    return (
        f"ARRAY(SELECT w.lexeme FROM unnest(to_tsvector('{config}', {q})) w"
        f" WHERE EXISTS (SELECT 1 FROM unnest({runs}::text[]) r WHERE strpos(w.lexeme, r) > 0)"
        f" ORDER BY w.positions[1] LIMIT {INNER_WORDS_MAX})"
    )


def inner_document_sql(document: str, q: str, runs: str, config: str) -> str:
    """SQL for ``document`` (a tsvector expression) with the words of ``query_words_sql`` added
    where its words contain them."""
    return f"sx_inner_words({document}, {query_words_sql(q, runs, config)})"


def like_patterns(runs: tuple[str, ...]) -> list[str]:
    """A ``LIKE`` pattern for each run: anywhere in the text (the runs hold letters only, never a
    wildcard). The trigram indexes serve a pattern of 3 characters or more; a shorter one reads
    every row of the space."""
    return [f"%{run}%" for run in runs]


class Searchable(Func):
    """``sx_searchable(text)``: the text with each run too long to be a word of a search document
    split into overlapping pieces (migration memory 0013); any other text as it is."""

    function = "sx_searchable"
    output_field = TextField()
