"""Pairs of near-identical texts among many, by pg_trgm's similarity, without comparing every pair.

``similarity(a, b)`` of pg_trgm is the Jaccard index of the two texts' trigram sets (``show_trgm``),
computed in single precision. Comparing every pair of n texts costs n²/2 calls, each re-reading
both texts' trigrams: 5,000 distinct decisions of one product took minutes. Here the trigram sets
come from PostgreSQL once, and candidates are found by prefix filtering (the "All-Pairs" join of
set-similarity search): order every set's trigrams rarest first and take the texts shortest
first; two sets whose similarity reaches ``t`` share ``o ≥ t/(1+t)·(|a|+|b|)`` trigrams, so their
rarest common trigram lies within the first ``|s| - o + 1`` of each: within ``|s| - ⌈t·|s|⌉ + 1``
of the later text, ``|s| - ⌈2t/(1+t)·|s|⌉ + 1`` of the earlier, shorter one (the index holds
those), and the shorter holds at least ``t`` times the longer's trigrams. Only pairs that pass
both tests are compared, exactly as pg_trgm compares them. Rare trigrams come first, so texts that
share boilerplate meet only through what sets them apart.

Texts that are all much alike defeat any such filter: when every trigram is in most texts (long
texts over one small vocabulary, ~0.74 similar to each other), every two are candidates, and the
search is quadratic. So each comparison is cheap — the ``BITS`` most common trigrams of a product
are compared as bit sets (two texts of 1,000 trigrams in 0.2 µs, not the 50–200 µs of two sets
of strings), the rarer ones that are in 2+ texts as sets of numbers — and the work is counted
against a ``Budget`` shared by a run's searches: index entries read, plus per compared pair
``COMPARISON_READS`` and the rarer trigrams of the later text (what a comparison reads at most).
A text is searched whole or not at all: the first whose search does not fit in what is left (its
candidates are gathered, not compared) ends its product's search, and the budget is ``spent``.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterator, Sequence
from math import ceil

# A product's most common trigrams, compared as bit sets (a 2,048-bit AND is one cheap operation;
# 256 bytes a text).
BITS = 2048
# What comparing two texts costs beyond their rarer trigrams, in index entries read (measured: a
# comparison of bit sets takes about as long as reading 16 entries).
COMPARISON_READS = 16
# pg_trgm rounds the similarity to single precision (relative error ≤ 2⁻²⁴), so a pair it finds
# may be a hair below ``t`` in exact arithmetic: the filters use ``t`` lowered by more than that.
SLACK = 1e-6


class Budget:
    """The work the searches of one run may still do, in index entries read (see above)."""

    def __init__(self, reads: int):
        self.left = reads
        self.spent = False  # a text was left unsearched for want of it


def _single(ratio: float) -> float:
    # The quotient of two integers below 2**24, rounded from double to single precision, is the
    # single-precision quotient itself (double rounding is exact here).
    return array("f", [ratio])[0]


def trigram_similarity(a: frozenset, b: frozenset) -> float:
    """pg_trgm's ``similarity``: shared / all trigrams, divided in single precision as it does
    (``0.9`` itself, 9 of 10, is below the double 0.9). Empty sets are similar to nothing."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return _single(shared / (len(a) + len(b) - shared))


def similar_pairs(
    items: Sequence[tuple[Hashable, Sequence[str]]], threshold: float, budget: Budget | None = None
) -> Iterator[tuple]:
    """``(id_a, id_b)`` for every two items whose trigram similarity is at least ``threshold``
    (0 < threshold ≤ 1), as ``similarity(a, b) >= threshold`` in PostgreSQL would find them.
    ``items`` are ``(id, trigrams)``, the trigrams as ``show_trgm`` returns them. With a
    ``budget``, only the pairs of the texts searched before it ran out (the shortest)."""
    sets = sorted(((key, frozenset(grams)) for key, grams in items if grams), key=lambda item: len(item[1]))
    rarity = Counter(gram for _, grams in sets for gram in grams)
    # Numbers, most common trigram first; one in a single text is never shared (≥ ``common``).
    number = {gram: n for n, gram in enumerate(sorted(rarity, key=lambda g: (-rarity[g], g)))}
    common = sum(1 for count in rarity.values() if count > 1)
    loose = threshold * (1 - SLACK)
    sizes = [len(grams) for _, grams in sets]
    searched: list[tuple] = []  # (key, size, bits, rarer shared trigrams), by position
    index: dict[int, list[int]] = defaultdict(list)  # trigram → positions whose index prefix has it
    for position, (key, grams) in enumerate(sets):
        size = sizes[position]
        ranked = sorted((number[gram] for gram in grams), reverse=True)  # rarest first
        # Positions are in size order: a partner's least size is a position, and each index list's
        # part from it is one slice (read in C, not entry by entry).
        first = bisect_left(sizes, loose * size)
        prefix = ranked[: size - ceil(loose * size) + 1]
        read = [seen[bisect_left(seen, first) :] for n in prefix if (seen := index.get(n))]
        candidates = set().union(*read)
        packed = bytearray(BITS // 8)
        rarer = []
        for n in ranked:
            if n < BITS:
                packed[n >> 3] |= 1 << (n & 7)
            elif n < common:
                rarer.append(n)
        bits, rarer = int.from_bytes(packed, "little"), frozenset(rarer)
        cost = sum(map(len, read)) + len(candidates) * (COMPARISON_READS + len(rarer))
        if budget is not None:
            if cost > budget.left:
                budget.spent = True
                return
            budget.left -= cost
        searched.append((key, size, bits, rarer))
        for other in sorted(candidates):
            other_key, other_size, other_bits, other_rarer = searched[other]
            shared = (bits & other_bits).bit_count() + (len(rarer & other_rarer) if rarer and other_rarer else 0)
            ratio = shared / (size + other_size - shared)
            if ratio >= loose and _single(ratio) >= threshold:
                yield other_key, key
        for n in ranked[: size - ceil(2 * loose / (1 + loose) * size) + 1]:
            if n < common:
                index[n].append(position)
