"""A search query as ``websearch_to_tsquery`` is given it, on every search surface (README, "Search queries").

PostgreSQL's websearch parser takes every ``-`` where a term can start as a NOT, and keeps each
one on an operator stack of 32 until a term follows: a separator line pasted with a task
(``-----…``, 33 dashes) failed the search ("tsquery stack too small"), and fewer made a Markdown
rule, a table or a list marker (``- redis``) exclude the next word. It also ends a term at a
``:`` outside quotes, where ``to_tsvector`` does not: ``https://docs.example.com/api/v2`` was
looked for as ``'https' & '/docs.example.com/api/v2'``, lexemes no document holds (``host:port``
alike), and typo correction, which compares the two parses, could not rescue it.

So, outside quotes (inside them PostgreSQL reads the text as ``to_tsvector`` does), a term's
leading ``-`` stays an exclusion only as README documents one: a single dash directly before a
term holding a letter or digit (``-word``) or before a quoted phrase holding one
(``-"a phrase"``); any other leading dash is a space (a dash inside a term, ``e-mail``, is the
term's). And a term with a ``:`` inside it is quoted, so that it is read as the document was.
Each kept dash then has a term right after it: no stack of NOTs can build up.
"""

from __future__ import annotations

from functools import partial

import regex

# A term as websearch_to_tsquery delimits it outside quotes: it ends at a space, a quote or an
# operator character (which the parser skips).
_TERM = regex.compile(r'[^\s"!&|()<]+')
_WORDLIKE = regex.compile(r"[\p{L}\p{N}]")
# A ``:`` with more of the term after it (a trailing one, "Steps:", is read alike by both parsers).
_INNER_COLON = regex.compile(r":.")
# websearch's alternatives: ``or`` as a word of its own, in any case, outside quotes.
_OR = regex.compile(r"(?i)(?<!\S)or(?!\S)")


def websearch_query(q: str) -> str:
    """``q`` with its dashes and colons rewritten as the module docstring says; the same text
    when it has neither. Applying it twice changes nothing more."""
    if "-" not in q and ":" not in q:
        return q
    parts = q.split('"')  # every quote opens or closes a phrase, an unclosed one runs to the end
    for i in range(0, len(parts), 2):  # the parts outside quotes
        phrase_next = i + 1 < len(parts) and _WORDLIKE.search(parts[i + 1]) is not None
        parts[i] = _TERM.sub(partial(_term, phrase_next=phrase_next, end=len(parts[i])), parts[i])
    return '"'.join(parts)


def _term(match: regex.Match, *, phrase_next: bool, end: int) -> str:
    """One term, ``end`` the length of its part: a phrase holding a letter or digit comes right
    after the part when ``phrase_next``."""
    before_phrase = phrase_next and match.end() == end
    term = match.group()
    rest = term.lstrip("-")
    dashes = len(term) - len(rest)
    if _INNER_COLON.search(rest):
        rest = f'"{rest}"'
    if dashes == 1 and (_WORDLIKE.search(rest) or (not rest and before_phrase)):
        return f"-{rest}"
    return " " * dashes + rest


def alternatives(q: str) -> list[str]:
    """``q`` split at its ``or``s outside quotes: websearch has no brackets and ``or`` binds
    loosest, so a row matches ``q`` when it matches one of them. Blank ones (``kafka or``) stay."""
    found = [""]
    for i, part in enumerate(q.split('"')):
        if i:
            found[-1] += '"'
        pieces = _OR.split(part) if i % 2 == 0 else [part]
        found[-1] += pieces[0]
        found += pieces[1:]
    return found


def exclusion_split(q: str) -> list[tuple[str, bool]]:
    """``websearch_query(q)`` cut at its exclusions as websearch reads them: ``(text, True)`` for
    each one (outside quotes, a term's leading dash, ``-word`` or ``-"a phrase"``, after a space, a
    quote or an operator character alike: ``(-kafka)``, ``"use"-kafka``, ``!-kafka``), ``(text,
    False)`` for the text between them; joined, the pieces are ``websearch_query(q)``. A dash
    inside quotes is the phrase's (``"git commit --amend"``). The one reading of exclusions for a
    caller that keeps them apart from the words (the kernel export)."""
    q = websearch_query(q)
    parts = q.split('"')
    spans: list[tuple[int, int]] = []
    offset = 0  # where ``parts[i]`` starts in ``q``
    for i, part in enumerate(parts):
        if i % 2 == 0:  # outside quotes; after the rewrite, every term starting with a dash excludes
            for term in _TERM.finditer(part):
                if term.group().startswith("-"):
                    end = offset + term.end()
                    if term.group() == "-" and i + 1 < len(parts):  # -"a phrase", to its closing quote
                        end += 1 + len(parts[i + 1]) + (i + 2 < len(parts))
                    spans.append((offset + term.start(), end))
        offset += len(part) + 1
    pieces: list[tuple[str, bool]] = []
    last = 0
    for start, end in spans:
        pieces += [(q[last:start], False), (q[start:end], True)]
        last = end
    pieces.append((q[last:], False))
    return [(text, excluded) for text, excluded in pieces if text]
