"""The one rule for product names (SPEC §5): trimmed, NFC, 1–100 characters, no control characters,
no line or paragraph separators, no invisible or text-direction characters (``name_problem``).

Names keep their original spelling; lookups and the per-space unique key are case-insensitive.
The key two names are compared by, everywhere (product states, the kernel's products,
consolidation, MIF import, decisions' ``affects_products``), is the trimmed NFC name lowered by
PostgreSQL: ``lower(name)`` is the unique index's expression, and Python's ``str.lower()`` and
``casefold()`` differ from it ('ß' and 'ﬁ' fold to 'ss' and 'fi', a final 'Σ' lowers to 'ς', 'İ' to
two characters), so a key made by Python would part names the table holds as one product, or join
names it holds apart.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import regex
from django.db import connection

from synchronex.api import errors
from synchronex.text import nfc

from .models import NAME_MAX

# Keys made ahead for a block (``product_name_keys_ahead``): normalised name → key.
_AHEAD: ContextVar[dict | None] = ContextVar("product_name_keys_ahead", default=None)


# Invisible characters: Unicode's Default_Ignorable_Code_Point (a BOM, ZWSP, LRM/RLM, the bidi
# embeddings, overrides and isolates, the soft hyphen, invisible operators, Hangul fillers, tag
# characters...), which make two names that look the same or reorder the text shown after them
# (in the injection block too). Three kinds are visible parts of a name and stay inside it: ZWJ and
# ZWNJ (emoji sequences, Indic and Persian spellings), variation selectors (VS16 asks for an
# emoji's colour presentation), and the tags of an emoji tag sequence (``_TAG_SEQUENCE``).
_INVISIBLE = r"\p{Default_Ignorable_Code_Point}--[\u200c\u200d\p{Variation_Selector}]"
# U+1F3F4 and tag characters closed by CANCEL TAG: 🏴 and "gbsct" is the flag of Scotland. Tags
# elsewhere (U+E0001 LANGUAGE TAG, tags after letters) close nothing and are invisible.
_TAG_SEQUENCE = "\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
# A name's ends lose whitespace (``str.isspace``'s, U+001C–U+001F included), format characters (Cf)
# and the other default-ignorable characters, ZWJ and ZWNJ included (they join nothing there), so
# "Acme" read from a file saved with a BOM is the product "Acme", not a second one that looks the
# same. A prepended concatenation mark (U+0600 ARABIC NUMBER SIGN) opens the number after it and
# stays at the start; variation selectors and a closing emoji tag sequence stay at the end.
_START = regex.compile(
    r"^[\s\x1c-\x1f\p{Cf}\p{Default_Ignorable_Code_Point}--\p{Prepended_Concatenation_Mark}]+", regex.V1
)
# The run of trimmable characters at the end, found from the end (``(?r)``: a search from the
# start retried the run from each of its positions, quadratic in a run of spaces inside a name).
# A closed tag sequence in that run is kept whole: the end is cut after the last one (``_end_cut``).
_END_RUN = regex.compile(
    r"(?r)[\s\x1c-\x1f\p{Cf}\p{Default_Ignorable_Code_Point}--\p{Variation_Selector}]+\Z", regex.V1
)
_TAG_BODY = regex.compile("[\U000e0020-\U000e007e]+\U000e007f")
_TAG_BASE = "\U0001f3f4"
_REFUSED_FORMAT = regex.compile(rf"[{_INVISIBLE}]", regex.V1)
_TAG_SEQUENCES = regex.compile(_TAG_SEQUENCE)
# The same, capturing: ``split`` keeps each sequence, at the odd indexes of its pieces.
_TAG_PIECES = regex.compile(f"({_TAG_SEQUENCE})")
# What migration products.0004 named a product whose name held invisible characters alone.
UNNAMED = "Unnamed product"


def _end_cut(text: str) -> int:
    """Where ``text``'s trimmable end starts: the run of trimmable characters and closed emoji tag
    sequences (``_TAG_SEQUENCE``) that ends it, cut after the last sequence it holds. Each step
    reads characters no earlier step read: linear in the text."""
    start, cut = len(text), None
    while True:
        run = _END_RUN.search(text, 0, start)
        if run is not None:
            start = run.start()
        body = _TAG_BODY.match(text, start) if start > 0 and text[start - 1] == _TAG_BASE else None
        if body is None:
            return start if cut is None else cut
        cut = body.end() if cut is None else cut  # the first found from the end is the last one
        start -= 1


def trim_name(text: str) -> str:
    """``text`` without whitespace and invisible characters at its ends (``_START``, ``_end_cut``)."""
    text = _START.sub("", text)
    return text[: _end_cut(text)]


def normalise_product_name(raw: str) -> str:
    """NFC-normalise and trim (so a name typed on two keyboards, or with a BOM, is one product)."""
    return trim_name(nfc(raw))


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a control character (Unicode category Cc: C0, DEL, C1): the rule for
    product names, and for other names that share it (workspace names)."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def line_break_problem(what: str, text: str) -> str | None:
    """Why ``text`` may not be ``what`` (``"A product name"``): the first line or paragraph
    separator it holds (Unicode categories Zl and Zp: U+2028, U+2029), or None. A name is one line,
    and Unicode, editors, chat UIs and models break lines there: a name holding one would print a
    line of its own (a forged heading) wherever it is shown. The other line breaks are control
    characters (``has_control_character``). The rule for product names, and for other names that
    share it (workspace names)."""
    for ch in text:
        if unicodedata.category(ch) in ("Zl", "Zp"):
            return f"{what} may not contain U+{ord(ch):04X} ({unicodedata.name(ch).lower()}): a name is one line."
    return None


def format_character_problem(what: str, text: str) -> str | None:
    """Why ``text`` may not be ``what`` (``"A product name"``): the first invisible character
    (bidi controls included) it holds outside an emoji tag sequence (``_REFUSED_FORMAT``), or None.
    The rule for product names, and for other names that share it (workspace names)."""
    found = _REFUSED_FORMAT.search(_TAG_SEQUENCES.sub("\U0001f3f4", text))
    if found is None:
        return None
    ch = found.group()
    called = unicodedata.name(ch, "").lower()  # unassigned default-ignorables have no name
    called = f" ({called})" if called else ""
    return f"{what} may not contain U+{ord(ch):04X}{called}: it is invisible or reorders text."


def name_under_the_rule(raw: str) -> str:
    """``raw`` as the rule reads it, with the invisible characters it refuses inside removed (the
    visible text stays): the mapping of migration products.0004, for names an earlier release stored
    (NFC, trimmed of whitespace only) and its MIF exports still hold. ``"Right\\u202eLeft"`` is
    ``"RightLeft"``; a name of invisible characters alone is blank. Control characters stay (the
    earlier rule refused them too), for ``name_problem`` to refuse."""
    pieces = _TAG_PIECES.split(normalise_product_name(raw))
    name = "".join(piece if i % 2 else _REFUSED_FORMAT.sub("", piece) for i, piece in enumerate(pieces))
    return normalise_product_name(name)


def name_problem(name: str) -> str | None:
    """Why a normalised name is not acceptable, or None."""
    if not name:
        return "A product name may not be blank."
    if len(name) > NAME_MAX:
        return f"A product name has at most {NAME_MAX} characters."
    if has_control_character(name):
        return "A product name may not contain control characters."
    return line_break_problem("A product name", name) or format_character_problem("A product name", name)


def clean_product_name(raw, *, field: str = "name") -> str:
    """The normalised name, or VALIDATION_ERROR naming ``field``."""
    if not isinstance(raw, str):
        raise errors.ValidationFailed.for_fields({field: "A product name must be a string."})
    name = normalise_product_name(raw)
    problem = name_problem(name)
    if problem:
        raise errors.ValidationFailed.for_fields({field: problem})
    return name


def product_name_keys(names: Iterable[str]) -> list[str]:
    """The key of each name (see the module docstring), in order, made in one query.

    The database's own ``lower()`` under its default collation, as the unique index lowers
    ``name``; what it maps depends on the database's locale, so no key is made in Python.
    """
    clean = [normalise_product_name(name) for name in names]
    if not clean:
        return []
    ahead = _AHEAD.get()
    if ahead is not None and all(name in ahead for name in clean):
        return [ahead[name] for name in clean]
    return _keys(clean)


def spelling_keys(names: list[str]) -> list[str]:
    """The database's key of each string as spelled, not normalised first (``product_name_keys``
    normalises): the key a product had under an earlier rule. One query."""
    return _keys(names) if names else []


def _keys(clean: list[str]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(n) FROM unnest(%s::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i", [clean])
        return [row[0] for row in cursor.fetchall()]


@contextmanager
def product_name_keys_ahead(names: Iterable[str]) -> Iterator[None]:
    """A block in which ``product_name_keys`` answers ``names`` without a query: their keys are
    made now, by the database, in one query. For checking many records at once (a MIF import's
    decisions each name their ``affects_products``); a name not given is still asked for."""
    clean = list(dict.fromkeys(normalise_product_name(name) for name in names))
    token = _AHEAD.set(dict(zip(clean, _keys(clean), strict=True)) if clean else {})
    try:
        yield
    finally:
        _AHEAD.reset(token)


def one_per_key(names: list[str]) -> list[str]:
    """``names`` without those whose key an earlier one has (the first spelling is kept)."""
    seen: set[str] = set()
    kept = []
    for name, key in zip(names, product_name_keys(names), strict=True):
        if key not in seen:
            seen.add(key)
            kept.append(name)
    return kept
