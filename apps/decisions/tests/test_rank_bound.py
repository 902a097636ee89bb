"""Rows whose text rank cannot reach the page are left out before scoring: same pages, same totals."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.decisions import ranking
from apps.decisions.models import Decision
from apps.decisions.ranking import RECENCY_WEIGHT, RELEVANCE_WEIGHT, RRF_K, page_rank_bound
from apps.decisions.selectors import decision_search

pytestmark = pytest.mark.django_db


def best_score(rank: int) -> float:
    """The most a row of this text rank can score (recency 1)."""
    return RELEVANCE_WEIGHT * (RRF_K + 1) / (RRF_K + rank) + RECENCY_WEIGHT


@pytest.mark.parametrize("upto", range(1, 200))
def test_a_row_past_the_bound_scores_below_the_page(upto):
    bound = page_rank_bound(upto)
    floor = RELEVANCE_WEIGHT * (RRF_K + 1) / (RRF_K + upto)  # at least upto rows score this much
    if bound is None:
        assert floor <= RECENCY_WEIGHT  # any rank may reach the page: nothing is left out
    else:
        assert best_score(bound + 1) < floor
        assert bound >= upto


def test_pages_and_totals_are_those_of_the_unbounded_ranking(product, monkeypatch):
    # 300 matches of varied strength (the word 1-6 times, in the decision or only in the
    # reasoning) and age (0-3 years), so that weak but recent rows compete with strong old ones.
    rng = random.Random(7)
    now = timezone.now()
    Decision.objects.bulk_create(
        Decision(
            space=product.space,
            product=product,
            decision=" ".join(["kafka"] * rng.randint(0, 3) + ["stream", str(i)]),
            reasoning=" ".join(["kafka"] * rng.randint(1 if i % 2 else 0, 3)) or "none",
            decided_at=now - timedelta(days=rng.uniform(0, 1100)),
        )
        for i in range(300)
    )

    def pages():
        out = []
        for limit, offset, days in ((20, 0, 90), (20, 0, 5), (5, 40, 30), (1, 0, 3650), (50, 150, 90)):
            result = decision_search(space=product.space, q="kafka", limit=limit, offset=offset, half_life_days=days)
            out.append((result.count, [(h.decision.pk, h.score, h.match) for h in result.hits]))
        return out

    bounded = pages()
    monkeypatch.setattr(ranking, "page_rank_bound", lambda upto: None)
    unbounded = pages()
    assert bounded == unbounded
    assert all(count >= 200 for count, _ in bounded) and all(hits for _, hits in bounded)
