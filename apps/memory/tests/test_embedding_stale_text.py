"""A vector is stored only on a row that still holds the text it was computed from: a row whose
text changed while the provider was computing (a consolidation merge gives the survivor its
duplicates' tags and reasoning) stays pending and is embedded again, from its new text, by the
run's next pass. The fake OpenAI-compatible server answers over real HTTP on 127.0.0.1."""

from __future__ import annotations

import pytest

from apps.decisions.models import Decision
from apps.memory import embedding_runs
from apps.memory.consolidation_steps import _absorb
from apps.memory.embedding_runs import _decision_text, embeddings_compute_pending
from apps.memory.tests.fake_openai import bag_of_words_vector
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def test_a_merge_during_the_call_leaves_no_vector_of_the_text_before_it(space, openai_embeddings, monkeypatch):
    product = product_ensure(space=space, name="Atlas")
    text = "Adopt dashboards for monitoring"
    survivor = Decision.objects.create(
        space=space, product=product, decision=text, tags=["obs"], reasoning="first reasoning"
    )
    duplicate = Decision.objects.create(
        space=space, product=product, decision=text, tags=["metrics"], reasoning="second reasoning about alerting"
    )
    before = _decision_text(survivor)
    real = embedding_runs.embed_unless_paused
    calls = []

    def merged_while_embedding(provider, texts, *, query):
        vectors = real(provider, texts, query=query)
        if not calls:  # the merge commits while the provider computes the first batch
            _absorb(Decision.objects.get(pk=survivor.pk), [Decision.objects.get(pk=duplicate.pk)])
        calls.append(list(texts))
        return vectors

    monkeypatch.setattr(embedding_runs, "embed_unless_paused", merged_while_embedding)
    counts = embeddings_compute_pending(space=space)

    survivor.refresh_from_db()
    after = _decision_text(survivor)
    assert after != before and survivor.tags == ["obs", "metrics"]
    assert sorted(calls[0]) == sorted([before, _decision_text(duplicate)])
    assert calls[1:] == [[after]]  # embedded again, from its new text, by the next pass
    assert list(survivor.embedding) == pytest.approx(bag_of_words_vector(after, 64), abs=1e-6)
    assert counts["decisions"] == 2  # the stale vector was neither stored nor counted
