"""Exact token counts with the o200k_base BPE (``bpe-openai``: offline, no download)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

ENCODING_NAME = "o200k_base"
# Counts are remembered per process, by a 128-bit BLAKE2b digest of the text (a few dozen bytes
# each, however long the text; when REMEMBERED are held, all are dropped). Kernel exports and
# injection blocks count the same kernel lines, decisions and assembled documents request after
# request, and a count is pure: the BPE took ~1 ms of a kernel export's ~5 ms of Python; hashing
# a text costs a few microseconds.
REMEMBERED = 8_192
_counts: dict[bytes, int] = {}


@lru_cache(maxsize=1)
def _encoding():
    import bpe_openai

    return bpe_openai.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    """The number of o200k_base tokens in ``text`` (special-token text is counted as ordinary text)."""
    if not text:
        return 0
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    count = _counts.get(key)
    if count is None:
        count = len(_encoding().encode_ordinary(text))
        if len(_counts) >= REMEMBERED:
            _counts.clear()
        _counts[key] = count
    return count


def last_break(text: str) -> int:
    """Where the last *break* of ``text`` is, 0 when it has none. A break is the place just after
    a newline that neither whitespace nor ``/`` follows: o200k_base always starts a pre-token
    there, whatever comes before or after. (It splits a text into pre-tokens by a regex and
    encodes each alone; no pre-token runs from a newline on into another character: a run of
    whitespace ends at its last newline, punctuation takes only newlines and ``/`` after it, and
    a word may start with one other character but not a newline.)"""
    end = len(text)
    while (at := text.rfind("\n", 0, end)) >= 0:
        if _breaks_after(text, at):
            return at + 1
        end = at
    return 0


def first_break(text: str) -> int:
    """Where the first break of ``text`` is (see ``last_break``), ``len(text)`` when it has none."""
    at = text.find("\n")
    while at >= 0:
        if _breaks_after(text, at):
            return at + 1
        at = text.find("\n", at + 1)
    return len(text)


def _breaks_after(text: str, newline: int) -> bool:
    after = text[newline + 1 : newline + 2]
    return bool(after) and not after.isspace() and after != "/"


def count_added_tokens(before: str, piece: str, after: str = "") -> int:
    """``count_tokens(before + piece + after) - count_tokens(before + after)``, exactly, counting
    only ``piece`` and the lines around it: the text is encoded pre-token by pre-token, so what
    lies before the last break of ``before`` and after the first break of ``after`` counts the
    same either way. A piece counted alone misses its merges with its neighbours (a ``.`` and the
    newline after it are one token); the whole text counted again for each of many pieces would
    be quadratic."""
    before = before[last_break(before) :]
    after = after[: first_break(after)]
    return count_tokens(before + piece + after) - count_tokens(before + after)
