"""``apps.memory.similar`` finds exactly the pairs pg_trgm's ``similarity(a, b) >= t`` finds, and
compares far fewer than every pair to do it."""

from __future__ import annotations

import random

import pytest
from django.db import connection

from apps.memory import similar

pytestmark = pytest.mark.django_db

WORDS = [
    "use",
    "postgres",
    "redis",
    "queue",
    "cache",
    "billing",
    "deploy",
    "search",
    "index",
    "release",
    "nightly",
    "weekly",
    "the",
    "a",
    "for",
    "of",
    "with",
    "on",
    "shard",
    "replica",
    "kafka",
    "stripe",
    "invoices",
    "tokens",
    "latency",
    "budget",
    "schema",
    "migration",
    "rollout",
]
ODD = ["café", "naïve", "日本語の検索", "🙂 emoji", "—", "x", "ab", "!!!", "   ", "Ünïcödé straße", "1.2.3"]


def texts(seed: int, n: int) -> list[str]:
    """Distinct-ish texts with many near copies: random sentences, then small edits of them."""
    rng = random.Random(seed)
    base = [" ".join(rng.choices(WORDS, k=rng.randint(3, 14))) for _ in range(n // 3)] + ODD
    out = list(base)
    while len(out) < n:
        words = rng.choice(base).split()
        edit = rng.random()
        if edit < 0.3 and words:
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        elif edit < 0.5:
            words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS + ODD))
        elif edit < 0.7 and len(words) > 1:
            words.pop(rng.randrange(len(words)))
        elif edit < 0.85:
            words.append(str(rng.randint(0, 30)))
        else:
            words = [w.upper() if rng.random() < 0.2 else w for w in words] + ["!"]
        out.append(" ".join(words))
    return out


def pg_pairs(values: list[str], threshold: float) -> set[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.i, b.i FROM unnest(%s::text[]) WITH ORDINALITY a(t, i)"
            " JOIN unnest(%s::text[]) WITH ORDINALITY b(t, i) ON a.i < b.i AND similarity(a.t, b.t) >= %s",
            [values, values, threshold],
        )
        return {(a - 1, b - 1) for a, b in cursor.fetchall()}


def trigrams(values: list[str]) -> list[tuple[int, list[str]]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT i, show_trgm(t) FROM unnest(%s::text[]) WITH ORDINALITY x(t, i) ORDER BY i", [values])
        return [(i - 1, grams) for i, grams in cursor.fetchall()]


@pytest.mark.parametrize("threshold", [0.9, 0.75, 0.5, 0.3, 1.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_pairs_are_exactly_postgres_pairs(seed, threshold):
    values = texts(seed, 500)
    expected = pg_pairs(values, threshold)
    found = {tuple(sorted(pair)) for pair in similar.similar_pairs(trigrams(values), threshold)}
    assert found == expected
    if threshold == 0.9:
        assert len(expected) > 50  # the data has near copies to find


def test_similarity_rounds_as_postgres_does():
    # 9 shared of 10 in all: 0.9 in single precision is below the double 0.9, in PostgreSQL too.
    a = frozenset(f"g{i}" for i in range(10))
    b = frozenset(f"g{i}" for i in range(9))
    assert similar.trigram_similarity(a, b) < 0.9
    with connection.cursor() as cursor:
        cursor.execute("SELECT (9::float4 / 10::float4) >= %s", [0.9])
        assert cursor.fetchone()[0] is False
    assert similar.trigram_similarity(frozenset(), frozenset()) == 0.0


def test_distinct_texts_are_not_all_compared():
    rng = random.Random(7)
    # 3,000 distinct decisions sharing boilerplate: every pair used to be compared (4.5 million).
    values = [f"Use {' '.join(rng.choices(WORDS, k=6))} for the release of build {n}" for n in range(3000)]
    budget = similar.Budget(10**12)
    list(similar.similar_pairs(trigrams(values), 0.9, budget))
    # A vocabulary of 29 words is the hard case (every trigram common); still a tenth at most.
    # Each comparison reads at least COMPARISON_READS of the budget, and the index more.
    compared = (10**12 - budget.left) // similar.COMPARISON_READS
    assert compared < len(values) ** 2 / 2 / 10, compared


def alike(seed: int, n: int) -> list[str]:
    """Distinct texts that are all much alike and none a near-duplicate: each a random 85% of one
    pool of 480 three-letter words, in random order (~1,630 characters; any two ~0.74 similar)."""
    rng = random.Random(seed)
    pool = set()
    while len(pool) < 480:
        pool.add("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=3)))
    pool = sorted(pool)
    return [" ".join(rng.sample(pool, 408)) for _ in range(n)]


def test_alike_texts_are_searched_within_the_budget():
    # Every trigram is in most texts, so every two texts are candidates of the prefix filter: the
    # search was quadratic in such texts, unbounded (1,000 of them took over a minute).
    values = ["Deploy the billing service on Fridays", "Deploy the billing services on Fridays", *alike(3, 100)]
    values.append(values[2] + " q1x q2x q3x q4x q5x")  # a near copy (0.98) of the first, and the longest
    expected = pg_pairs(values, 0.9)
    assert expected == {(0, 1), (2, 102)}
    items = trigrams(values)
    assert max(len(grams) for _, grams in items[:-1]) < len(items[-1][1])

    ample = similar.Budget(10**9)
    assert {tuple(sorted(pair)) for pair in similar.similar_pairs(items, 0.9, ample)} == expected
    assert not ample.spent
    used = 10**9 - ample.left
    # ~100²/2 pairs compared (as 2,048-bit sets) at ~60 reads each, where sets of ~1,050 trigrams
    # compared one by one read 5 million.
    assert 0 < used < 10**6

    # One read short: the shortest texts are searched, each whole; the longest, last, is not.
    short = similar.Budget(used - 1)
    assert {tuple(sorted(pair)) for pair in similar.similar_pairs(items, 0.9, short)} == {(0, 1)}
    assert short.spent and short.left >= 0
