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
