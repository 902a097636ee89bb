"""The one Unicode form of stored and searched text: NFC.

A client may send "é" composed (U+00E9, NFC) or decomposed ("e" + U+0301, NFD); both are the same
text, yet compare, index and match as different strings. So every free-text string the API stores
through its serializers is NFC-normalised on input (``apps.products.api.fields.StrictString``),
search queries are normalised before use, and comparison keys (list items, duplicate decisions)
compare NFC, so rows stored before the rule still match (migration ``memory.0006_text_nfc``
normalised those too). Generic memories keep their content as sent (the MIF round trip is byte for
byte) and are searched by its NFC form.
"""

from __future__ import annotations

import unicodedata

import regex

_GRAPHEME = regex.compile(r"\X")


def nfc(text: str) -> str:
    """``text`` in NFC; the string itself when it already is (the common case).

    No ``unicodedata.is_normalized()`` before: CPython's ``normalize()`` runs that same quick check
    first and returns its argument when it passes (immediately for ASCII), so a separate check only
    adds a second pass (measured on 3.11: 126 ns either way for ASCII, 856 against 1,014 ns for a
    220-character NFC text with accents)."""
    return unicodedata.normalize("NFC", text)


def clip(line: str, limit: int) -> str:
    """``line``, or its start and "…" in at most ``limit`` code points, cut between two grapheme
    clusters (``\\X``: what a reader sees as one character): never inside a flag, a ZWJ emoji
    sequence or a letter with its combining marks, whose halves would show as other characters.
    A first cluster longer than the limit on its own leaves only "…"."""
    if len(line) <= limit:
        return line
    end = 0
    for cluster in _GRAPHEME.finditer(line):
        if cluster.end() > limit - 1:
            break
        end = cluster.end()
    return line[:end].rstrip() + "…"
