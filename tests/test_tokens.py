"""Token counts (synchronex/api/tokens.py): exact o200k_base counts, remembered by digest."""

from __future__ import annotations

import random

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


# Pieces of text the kernel export puts side by side, and characters that pre-tokens merge across
# or split at: punctuation before a newline, runs of whitespace and newlines, "/" after a
# newline, contractions, digits, CJK, emoji with a modifier, non-ASCII spaces and separators.
FRAGMENTS = [
    *"ab Zé.,:;!?-#/*_'\"()[]0123456789\t\r",
    *["\n"] * 6,
    *["中文", "日本語のテキスト", "😀", "👍🏽", "🚀🚀", "\u3000", "\xa0", "\u2028", "\x0c", "ß", "İ", "Σ"],
    *["'s", "'ll", " /", "\n/", "\n\n#", "\n- ", "\n\n## What works\n- ", "\n  ", "word", " word", "WORD"],
    *["  ", "...", ".\n", "vendor.", "[2026-11-30] Dots: ", "Status: active", "[REDACTED:api_key]"],
]


def test_an_added_piece_costs_what_the_whole_text_gains():
    rng = random.Random(20261130)

    def text(most: int) -> str:
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, most)))

    for _ in range(10_000):
        before, piece, after = text(30), text(12), text(30)
        expected = fresh(before + piece + after) - fresh(before + after)
        assert tokens.count_added_tokens(before, piece, after) == expected, (before, piece, after)


@pytest.mark.parametrize(
    "text,last,first",
    [
        ("", 0, 0),
        ("one line", 0, 8),
        ("a.\nb\n", 3, 3),
        ("a\n b\n\nc", 6, 6),  # a newline before a space is no break; one before "c" is
        ("a\n/b\n\n", 0, 6),  # nor before "/" (punctuation takes "\n/"), nor at the very end
    ],
)
def test_breaks_are_after_a_newline_before_another_character(text, last, first):
    assert tokens.last_break(text) == last
    assert tokens.first_break(text) == first
