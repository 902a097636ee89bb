"""Exact token counts with the o200k_base BPE (``bpe-openai``: offline, no download)."""

from __future__ import annotations

from functools import lru_cache

ENCODING_NAME = "o200k_base"


@lru_cache(maxsize=1)
def _encoding():
    import bpe_openai

    return bpe_openai.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    """The number of o200k_base tokens in ``text`` (special-token text is counted as ordinary text)."""
    if not text:
        return 0
    return len(_encoding().encode_ordinary(text))
