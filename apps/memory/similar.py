"""Pairs of near-identical texts among many, by pg_trgm's similarity, without comparing every pair.

``similarity(a, b)`` of pg_trgm is the Jaccard index of the two texts' trigram sets (``show_trgm``),
computed in single precision. Comparing every pair of n texts costs n²/2 calls, each re-reading
both texts' trigrams: 5,000 distinct decisions of one product took minutes. Here the trigram sets
come from PostgreSQL once, and candidates are found by prefix filtering (the "All-Pairs" join of
set-similarity search): order every set's trigrams rarest first; two sets whose similarity reaches
``t`` share a trigram within the first ``|s| - ⌊t·|s|⌋ + 1`` of each (their rarest common trigram
lies there), and the smaller holds at least ``t`` times the larger's trigrams. Only pairs that pass
both tests are compared, exactly as pg_trgm compares them. Rare trigrams come first, so texts that
share boilerplate meet only through what sets them apart.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterator, Sequence


def trigram_similarity(a: frozenset, b: frozenset) -> float:
    """pg_trgm's ``similarity``: shared / all trigrams, divided in single precision as it does
    (``0.9`` itself, 9 of 10, is below the double 0.9). Empty sets are similar to nothing."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    # The quotient of two integers below 2**24, rounded from double to single precision, is the
    # single-precision quotient itself (double rounding is exact here).
    return array("f", [shared / (len(a) + len(b) - shared)])[0]


def similar_pairs(items: Sequence[tuple[Hashable, Sequence[str]]], threshold: float) -> Iterator[tuple]:
    """``(id_a, id_b)`` for every two items whose trigram similarity is at least ``threshold``
    (0 < threshold ≤ 1), as ``similarity(a, b) >= threshold`` in PostgreSQL would find them.
    ``items`` are ``(id, trigrams)``, the trigrams as ``show_trgm`` returns them."""
    sets = [(key, frozenset(grams)) for key, grams in items if grams]
    rarity = Counter(gram for _, grams in sets for gram in grams)
    sets.sort(key=lambda item: len(item[1]))
    index: dict[str, list[int]] = defaultdict(list)
    for position, (key, grams) in enumerate(sets):
        size = len(grams)
        prefix = size - int(threshold * size) + 1
        smallest = threshold * size * (1 - 1e-9)  # a partner's least size, rounding in its favour
        candidates = set()
        for gram in sorted(grams, key=lambda g: (rarity[g], g))[:prefix]:
            seen = index[gram]
            candidates.update(other for other in seen if len(sets[other][1]) >= smallest)
            seen.append(position)
        for other in sorted(candidates):
            other_key, other_grams = sets[other]
            if trigram_similarity(grams, other_grams) >= threshold:
                yield other_key, key
