"""Token counts (synchronex/api/tokens.py): exact o200k_base counts, remembered by digest."""

from __future__ import annotations

import pytest

from synchronex.api import tokens


@pytest.fixture(autouse=True)
def _empty():
    tokens._counts.clear()
    yield
    tokens._counts.clear()


def fresh(text: str) -> int:
    return len(tokens._encoding().encode_ordinary(text))


TEXTS = ["", "hello world", "Ünïcödé — 日本語のテキスト 🚀🚀", "x" * 50_000, "lone \ud800 surrogate", "<|endoftext|>"]


@pytest.mark.parametrize("text", TEXTS)
def test_a_remembered_count_is_the_count(text):
    first, again = tokens.count_tokens(text), tokens.count_tokens(text)
    assert first == again == (fresh(text) if text else 0)


def test_texts_that_differ_by_one_character_are_counted_apart():
    assert tokens.count_tokens("alpha beta") != tokens.count_tokens("alpha beta gamma delta")
    assert len(tokens._counts) == 2


def test_when_full_the_remembered_counts_are_dropped(monkeypatch):
    monkeypatch.setattr(tokens, "REMEMBERED", 3)
    for n in range(3):
        tokens.count_tokens(f"text number {n}")
    assert len(tokens._counts) == 3
    assert tokens.count_tokens("one more") == fresh("one more")
    assert len(tokens._counts) == 1
