"""The vector branch of decision search, with a fake embedding provider (no network), and, for
what the query's words decide (exclusions, stop words), the fake OpenAI-compatible server over
real HTTP on 127.0.0.1 (hashed bags of words)."""

from __future__ import annotations

import pytest

from apps.decisions.models import Decision
from apps.memory import embeddings
from apps.memory.embedding_runs import embeddings_compute_pending
from apps.memory.tests.fake_openai import FakeEmbeddingServer
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

from .helpers import days_ago, record, search, texts

pytestmark = pytest.mark.django_db(transaction=True)

# Three "meaning" axes: money, infrastructure, people.
CONCEPTS = {
    "revenue": [1.0, 0.0, 0.0],
    "money": [0.9, 0.1, 0.0],
    "servers": [0.0, 1.0, 0.0],
    "hiring": [0.0, 0.0, 1.0],
}


class FakeProvider:
    name = "fake"
    model = "fake-concepts-1"
    dimensions = 3

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        if self.fail:
            raise embeddings.EmbeddingUnavailable("provider down")
        return [CONCEPTS.get(text.strip().lower(), [0.3, 0.3, 0.3]) for text in texts]


@pytest.fixture
def provider(monkeypatch, settings):
    fake = FakeProvider()
    settings.EMBEDDINGS_PROVIDER = "local"  # configured, so writes queue embeddings
    monkeypatch.setattr(embeddings, "provider_for_space", lambda space: fake)
    monkeypatch.setattr("apps.memory.tasks.embed_pending.delay", lambda **kwargs: None)
    return fake


def embed(decision_id: str, vector: list[float], model: str = FakeProvider.model) -> None:
    Decision.objects.filter(pk=decision_id).update(
        embedding=vector, embedding_model=model, embedding_dimensions=len(vector)
    )


@pytest.fixture
def embedded(write_api, provider):
    when = days_ago(5)
    rows = {
        "stripe": record(write_api, "Bill customers through Stripe", decided_at=when),
        "fly": record(write_api, "Deploy on Fly.io machines", decided_at=when),
        "team": record(write_api, "Grow the team slowly", decided_at=when),
        "pricing": record(write_api, "Raise prices for revenue growth", decided_at=when),
    }
    embed(rows["stripe"]["id"], [1.0, 0.05, 0.0])
    embed(rows["fly"]["id"], [0.0, 1.0, 0.1])
    embed(rows["team"]["id"], [0.0, 0.1, 1.0])
    embed(rows["pricing"]["id"], [0.8, 0.0, 0.3])
    return rows


def test_meaning_finds_decisions_that_share_no_words(write_api, embedded, provider):
    body = search(write_api, q="servers")
    assert body["semantic"] is True
    assert texts(body)[0] == "Deploy on Fly.io machines"
    top = body["results"][0]
    assert top["score_detail"]["text"] == 0 and top["score_detail"]["semantic"] == 1.0
    assert top["score"] == pytest.approx(0.8 * 1.0 / 2 + 0.2 * top["score_detail"]["recency"], abs=1e-4)
    assert provider.calls[-1] == ["servers"]


def test_text_and_vector_ranks_are_fused(write_api, embedded):
    # "revenue" is a word of the pricing decision and, by meaning, closest to Stripe.
    body = search(write_api, q="revenue")
    assert body["semantic"] is True
    order = texts(body)
    assert order[0] == "Raise prices for revenue growth"  # first in text, second by meaning
    assert order[1] == "Bill customers through Stripe"  # first by meaning only
    both, meaning_only = body["results"][0], body["results"][1]
    assert both["score_detail"]["text"] == 1.0 and both["score_detail"]["semantic"] == pytest.approx(61 / 62, abs=1e-4)
    assert meaning_only["score_detail"]["text"] == 0 and meaning_only["score_detail"]["semantic"] == 1.0
    assert both["score"] > meaning_only["score"]
    # Every embedded decision is a candidate of the vector branch.
    assert body["count"] == 4


def test_filters_apply_to_the_vector_branch(write_api, embedded):
    record(write_api, "Hire a designer", product="Other", decided_at=days_ago(1))
    body = search(write_api, q="servers", product="Other")
    assert body["semantic"] is True and body["results"] == []
    # "Grow the team slowly" is nearest by meaning but older than the window; the new decision
    # matches by text ("hiring" and "Hire" share a stem).
    assert texts(search(write_api, q="hiring", since=days_ago(3))) == ["Hire a designer"]
    assert "Grow the team slowly" in texts(search(write_api, q="hiring"))


def test_vectors_of_another_model_or_size_are_never_compared(write_api, provider):
    a = record(write_api, "Bill customers through Stripe")
    b = record(write_api, "Deploy on Fly.io machines")
    embed(a["id"], [1.0, 0.0, 0.0], model="other-model")
    embed(b["id"], [0.0, 1.0, 0.0, 0.0])  # same model name, other size
    body = search(write_api, q="servers")
    assert body["semantic"] is False and body["results"] == []


def test_search_falls_back_to_keywords_when_the_provider_fails(write_api, embedded, provider):
    provider.fail = True
    body = search(write_api, q="stripe")
    assert body["semantic"] is False
    assert texts(body) == ["Bill customers through Stripe"]
    assert body["results"][0]["score_detail"]["semantic"] is None


def test_no_provider_means_keyword_search(write_api, monkeypatch):
    monkeypatch.setattr(embeddings, "provider_for_space", lambda space: None)
    made = record(write_api, "Bill customers through Stripe")
    embed(made["id"], [1.0, 0.0, 0.0])
    body = search(write_api, q="revenue")
    assert body["semantic"] is False and body["results"] == []


def test_newest_first_listing_never_embeds(write_api, embedded, provider):
    provider.calls.clear()
    body = search(write_api)
    assert body["semantic"] is False and len(body["results"]) == 4
    assert provider.calls == []


def test_recording_a_decision_queues_embedding_after_commit(write_api, provider, monkeypatch):
    queued = []
    monkeypatch.setattr("apps.memory.tasks.embed_pending.delay", lambda **kwargs: queued.append(kwargs))
    made = record(write_api, "Embed me later")
    assert len(queued) == 1
    space_id = Decision.objects.get(pk=made["id"]).space_id
    assert queued == [{"space_id": str(space_id)}]


def test_a_failed_recording_queues_nothing(write_api, provider, monkeypatch):
    queued = []
    monkeypatch.setattr("apps.memory.tasks.embed_pending.delay", lambda **kwargs: queued.append(kwargs))
    response = write_api.post(
        "/api/v1/memory/decisions",
        json={"decision": "x", "product_name": "Atlas", "supersedes": "00000000-0000-0000-0000-000000000000"},
    )
    assert response.status_code == 404
    assert queued == []


def test_other_spaces_vectors_stay_invisible(make_user, client_for, provider):
    alice, bob = client_for(make_user()), client_for(make_user())
    theirs = record(alice, "Alice's infrastructure plan")
    embed(theirs["id"], [0.0, 1.0, 0.0])
    body = search(bob, q="servers")
    assert body["results"] == [] and body["semantic"] is False
    mine = record(bob, "Bob's hiring plan")
    embed(mine["id"], [0.0, 0.0, 1.0])
    body = search(bob, q="servers")
    assert body["semantic"] is True and texts(body) == ["Bob's hiring plan"]


def test_indexed_vector_sizes_use_the_same_ranking(write_api, monkeypatch):
    """384 dimensions take the HNSW-indexed path (a cast to vector(384)); results are the same."""
    size = 384

    class MiniProvider(FakeProvider):
        model = "all-MiniLM-L6-v2"
        dimensions = size

        def embed(self, texts):
            return [axis(0 if "money" in t else 1) for t in texts]

    def axis(i: int) -> list[float]:
        vector = [0.0] * size
        vector[i] = 1.0
        return vector

    monkeypatch.setattr(embeddings, "provider_for_space", lambda space: MiniProvider())
    monkeypatch.setattr("apps.memory.tasks.embed_pending.delay", lambda **kwargs: None)
    billing = record(write_api, "Bill customers through Stripe")
    deploy = record(write_api, "Deploy on Fly.io machines")
    for made, index in ((billing, 0), (deploy, 1)):
        Decision.objects.filter(pk=made["id"]).update(
            embedding=axis(index), embedding_model=MiniProvider.model, embedding_dimensions=size
        )
    body = search(write_api, q="money")
    assert body["semantic"] is True
    assert texts(body) == ["Bill customers through Stripe", "Deploy on Fly.io machines"]
    assert body["results"][0]["score_detail"]["semantic"] == 1.0


# -- what the query's words decide holds for the vector branch too ------------------------------
STRIPE, PADDLE = "Use Stripe for subscription billing", "Use Paddle for one-off billing"


@pytest.fixture
def billing(user, settings):
    """Hotel's two billing decisions, embedded by the fake OpenAI-compatible server."""
    with FakeEmbeddingServer() as server:
        settings.EMBEDDINGS_PROVIDER = "openai"
        settings.EMBEDDINGS_BASE_URL = server.base_url
        settings.EMBEDDINGS_MODEL = "fake-embed-1"
        settings.EMBEDDINGS_API_KEY = server.api_key
        settings.EMBEDDINGS_DIMENSIONS = None
        space = space_ensure_personal(user=user)
        hotel = product_ensure(space=space, name="Hotel")
        for text in (STRIPE, PADDLE):
            Decision.objects.create(space=space, product=hotel, decision=text, tags=["billing"])
        assert embeddings_compute_pending(space=space)["decisions"] == 2
        server.requests.clear()
        yield server


def test_meaning_alone_finds_both_billing_decisions(read_api, billing):
    body = search(read_api, q="charging customers", product="Hotel")
    assert body["semantic"] is True and body["count"] == 2


def test_an_excluded_word_keeps_a_decision_out_of_the_vector_branch(read_api, billing):
    body = search(read_api, q="billing -stripe", product="Hotel")
    assert body["semantic"] is True
    assert texts(body) == [PADDLE] and body["count"] == 1
    # The excluded word is not embedded: it would pull the query towards what it excludes.
    assert billing.requests[-1]["body"]["input"] == ["billing"]
    assert texts(search(read_api, q='billing -"subscription billing"', product="Hotel")) == [PADDLE]
    assert search(read_api, q="billing -billing", product="Hotel")["count"] == 0


@pytest.mark.parametrize("q", ["the and of", "!!!", "-stripe -paddle"])
def test_a_query_with_no_word_to_match_finds_nothing_with_vectors_too(read_api, billing, q):
    body = search(read_api, q=q, product="Hotel")
    assert body["count"] == 0 and body["results"] == []
    assert body["semantic"] is False  # nothing was embedded: the provider was not asked
    assert billing.requests == []


@pytest.mark.parametrize("vectors", [True, False], ids=["vectors", "keywords"])
def test_the_kernel_export_keeps_exclusions(read_api, billing, settings, vectors):
    if not vectors:
        settings.EMBEDDINGS_PROVIDER = "none"
    # Two words: its search on either word alone (the export's top-up) keeps the exclusion too.
    response = read_api.get(
        "/api/v1/kernel/export", params={"product": "Hotel", "query": "one-off billing -stripe", "format": "json"}
    )
    assert response.status_code == 200, response.text
    content = response.json()["content"]
    assert PADDLE in content and STRIPE not in content
