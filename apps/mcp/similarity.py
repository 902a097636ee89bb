"""difflib similarity within a budget of work, for ``confidence.assess``.

``SequenceMatcher.ratio()`` finds matching blocks one by one, and each search walks, for every
character of its slice of the first text, that character's positions in the second. On long
texts of few distinct characters that is cubic: two 1,500-character strings of ``a``s and
``ab``s take half a minute. So ``Similarity``

- skips, exactly, every pair that cannot reach the caller's threshold: ``real_quick_ratio()``
  (lengths only) and ``quick_ratio()`` (shared characters, counted here from each text's
  ``Counter``, made once, rather than by walking the text for every pair) are upper bounds of
  ``ratio()``, and ``Texts`` finds the texts whose length can reach it without visiting the others;
- charges every longest-match search what it will walk before running it, and raises
  ``OutOfBudget`` once its budget is spent, so the caller reports the comparison as not made
  instead of holding a worker.

A ratio it returns is exactly ``SequenceMatcher(None, a, b, autojunk=False).ratio()``.
"""

from __future__ import annotations

import difflib
import math
from bisect import bisect_left, bisect_right
from collections import Counter
from itertools import accumulate

# Work one ``Similarity`` may do, in positions difflib visits (some 60 ns each at worst, so the
# budget is spent within about half a second). Ordinary blocks use a small part of it.
BUDGET = 8_000_000
# The same units for bounding one pair, for each distinct character its counts compare, and for
# each character of ``a`` a longest-match search steps over (whatever it finds in ``b``).
PAIR_COST = 75
CHARACTER_COST = 5
STEP_COST = 20


class OutOfBudget(Exception):
    """The budget is spent: the comparison at hand was not made."""


class Similarity:
    """difflib ratios of block texts ``a`` to memory texts ``b``, within one budget of work."""

    def __init__(self, budget: int = BUDGET):
        self.left = budget
        self._matchers: dict[str, _Matcher] = {}
        self._counts: dict[str, Counter] = {}

    @property
    def spent(self) -> bool:
        return self.left <= 0

    def spend(self, cost: int) -> None:
        self.left -= cost
        if self.left < 0:
            raise OutOfBudget

    def bound(self, a: str, b: str, threshold: float) -> float | None:
        """An upper bound of ``ratio(a, b)``, or None when even that is under ``threshold``."""
        matcher = self._matcher(a, b)
        if matcher.real_quick_ratio() < threshold:
            return None
        fewer, more = sorted((self._count(a), self._count(b)), key=len)
        self.spend(PAIR_COST + CHARACTER_COST * len(fewer))
        # quick_ratio(), with difflib's arithmetic: 2 · shared characters / both lengths.
        total = len(a) + len(b)
        bound = 2.0 * sum((fewer & more).values()) / total if total else 1.0
        return bound if bound >= threshold else None

    def ratio(self, a: str, b: str) -> float:
        return self._matcher(a, b).charged_ratio()

    def at_least(self, a: str, b: str, threshold: float) -> bool:
        return self.bound(a, b, threshold) is not None and self.ratio(a, b) >= threshold

    def _count(self, text: str) -> Counter:
        counts = self._counts.get(text)
        if counts is None:
            counts = self._counts[text] = Counter(text)
        return counts

    def _matcher(self, a: str, b: str) -> _Matcher:
        # One matcher per memory text: difflib indexes ``b`` once, and set_seq1 keeps that index.
        matcher = self._matchers.get(b)
        if matcher is None:
            matcher = self._matchers[b] = _Matcher(b, self)
        matcher.set_seq1(a)
        return matcher


class _Matcher(difflib.SequenceMatcher):
    """A matcher for one memory text that charges each longest-match search before running it."""

    def __init__(self, b: str, similarity: Similarity):
        self._similarity = similarity
        self._b_counts = Counter(b)
        self._walk = [0]
        super().__init__(None, "", b, autojunk=False)

    def charged_ratio(self) -> float:
        if self.matching_blocks is None:
            # _walk[i]: the positions of b a search visits for a[:i], so any slice is priced at once.
            self._walk = list(accumulate((self._b_counts[ch] for ch in self.a), initial=0))
        return self.ratio()

    def find_longest_match(self, alo=0, ahi=None, blo=0, bhi=None):
        ahi = len(self.a) if ahi is None else ahi
        self._similarity.spend(self._walk[ahi] - self._walk[alo] + STEP_COST * (ahi - alo))
        return super().find_longest_match(alo, ahi, blo, bhi)


class Texts:
    """Texts indexed by length, searched for those similar enough to another text."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self._order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        self._lengths = [len(texts[index]) for index in self._order]

    def best_for(self, similarity: Similarity, a: str, threshold: float) -> int | None:
        """The index of the text ``b`` with the highest ``ratio(a, b)`` when that is ≥ ``threshold``
        (the first of equals, as ``max`` picks), else None. Candidates are tried best bound first,
        and the search stops at a bound under the best ratio found: none after it can win."""
        bounds = []
        for index in self._near(similarity, len(a), threshold):
            bound = similarity.bound(a, self.texts[index], threshold)
            if bound is not None:
                bounds.append((-bound, index))
        best, best_ratio = None, threshold
        for negative_bound, index in sorted(bounds):
            if -negative_bound < best_ratio:
                break
            ratio = similarity.ratio(a, self.texts[index])
            if ratio > best_ratio or (ratio == best_ratio and (best is None or index < best)):
                best, best_ratio = index, ratio
        return best

    def first_for(self, similarity: Similarity, b: str, threshold: float) -> int | None:
        """The first index, in list order, of a text ``a`` with ``ratio(a, b)`` ≥ ``threshold``, or None."""
        near = sorted(self._near(similarity, len(b), threshold))
        return next((index for index in near if similarity.at_least(self.texts[index], b, threshold)), None)

    def _near(self, similarity: Similarity, length: int, threshold: float) -> list[int]:
        """The indexes of the texts whose ``real_quick_ratio()`` against a text of ``length``
        characters (2·shorter / both lengths) can reach ``threshold`` (a superset; ``bound``
        decides); OutOfBudget if there is one and the budget is spent."""
        shortest = math.floor(length * threshold / (2 - threshold)) - 1
        longest = math.ceil(length * (2 - threshold) / threshold) + 1
        near = self._order[bisect_left(self._lengths, shortest) : bisect_right(self._lengths, longest)]
        if near and similarity.spent:
            raise OutOfBudget
        return near
