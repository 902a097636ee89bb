"""A provider answering vectors that cannot be stored or compared is an unavailable provider.

pgvector holds 32-bit floats: a component beyond float32's range (finite as a double, ``1e300``),
an infinity or NaN would make PostgreSQL refuse the query ("out of range for type vector"). Such an
answer is ``EmbeddingUnavailable``: decision search and the kernel export fall back to keyword
ranking (SPEC §6, ``"semantic": false``) and the embedding task retries it as a provider failure.
The fake OpenAI-compatible server answers over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import pytest

from apps.memory.embedding_runs import embeddings_compute_pending
from apps.memory.embeddings import EmbeddingUnavailable
from apps.memory.models import Memory
from apps.memory.tasks import embed_pending
from apps.memory.tests.test_embedding_task import add_memories
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

SEARCH = "/api/v1/memory/decisions/search"
EXPORT = "/api/v1/kernel/export"
DIMENSIONS = 64  # the fake server's default size
OUT_OF_RANGE = [1e300, -1e300, 3.5e38, 10**400, float("inf"), float("nan")]
# In range, but no vector: all zero (or so small that pgvector's 32-bit arithmetic sees zero), whose
# cosine distance to every stored vector is NaN (every decision tied first), or no numbers at all
# (JSON true/false, strings).
NONSENSE = [0.0, 0, 1e-30, True, False, "1.0"]


def answer(value) -> dict:
    """One embedding of ``DIMENSIONS`` components equal to ``value`` (json.dumps writes
    ``Infinity`` and ``NaN``, which Python's json reads back)."""
    return {"object": "list", "data": [{"index": 0, "embedding": [value] * DIMENSIONS}], "model": "fake-embed-1"}


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def search(client, **params) -> dict:
    response = client.get(SEARCH, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_vectors_are_compared_while_the_provider_answers_well(read_api, embedded):
    body = search(read_api, q="redis")
    assert body["semantic"] is True
    assert body["results"][0]["score_detail"]["semantic"] > 0


@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=lambda value: repr(value)[:12])
def test_search_falls_back_to_keywords_when_the_query_vector_is_out_of_range(read_api, embedded, value):
    embedded.respond_with = answer(value)
    body = search(read_api, q="redis")
    assert body["semantic"] is False
    assert [hit["decision"] for hit in body["results"]] == ["Use Redis for the job queue"]
    assert body["results"][0]["score_detail"]["semantic"] is None


@pytest.mark.parametrize("value", NONSENSE, ids=lambda value: repr(value))
def test_search_falls_back_to_keywords_when_the_query_vector_is_no_vector(read_api, embedded, value):
    embedded.respond_with = answer(value)
    body = search(read_api, q="redis")
    assert body["semantic"] is False
    assert [hit["decision"] for hit in body["results"]] == ["Use Redis for the job queue"]
    assert body["count"] == 1


@pytest.mark.parametrize("value", [1e300, 10**400], ids=["1e300", "10**400"])
def test_the_kernel_export_falls_back_to_keywords_too(read_api, embedded, value):
    embedded.respond_with = answer(value)
    response = read_api.get(EXPORT, params={"format": "json", "query": "redis", "product": "Atlas"})
    assert response.status_code == 200, response.text
    assert "Use Redis for the job queue" in response.json()["content"]


@pytest.mark.parametrize("value", [1e300, float("nan"), 10**400], ids=["1e300", "nan", "10**400"])
def test_the_embedding_task_retries_out_of_range_vectors_as_a_provider_failure(space, openai_embeddings, value):
    add_memories(space, "a")
    openai_embeddings.respond_with = answer(value)
    result = embed_pending.apply(args=[str(space.id)])
    assert result.failed()
    assert isinstance(result.result, EmbeddingUnavailable)
    assert "out of range" in str(result.result)
    assert len(openai_embeddings.requests) == embed_pending.max_retries + 1
    assert Memory.objects.get().embedding is None  # still pending, for the next run or the sweep


@pytest.mark.parametrize("value", [0.0, True, "0.5"], ids=lambda value: repr(value))
def test_the_embedding_task_retries_vectors_that_are_no_vectors(space, openai_embeddings, value):
    add_memories(space, "a")
    openai_embeddings.respond_with = answer(value)
    result = embed_pending.apply(args=[str(space.id)])
    assert result.failed()
    assert isinstance(result.result, EmbeddingUnavailable)
    assert len(openai_embeddings.requests) == embed_pending.max_retries + 1
    assert Memory.objects.get().embedding is None


def test_the_largest_float32_is_accepted(space, openai_embeddings):
    add_memories(space, "a")
    openai_embeddings.respond_with = answer(3.4028234663852886e38)
    assert embeddings_compute_pending(space=space)["memories"] == 1


def test_a_query_vector_of_another_size_than_the_stored_ones_is_not_semantic(read_api, embedded):
    # The provider now answers 32 dimensions (a model change behind the same name): no stored
    # vector can be compared, so the search says it ranked by keywords only.
    embedded.dimensions = 32
    body = search(read_api, q="redis")
    assert body["semantic"] is False
    assert [hit["decision"] for hit in body["results"]] == ["Use Redis for the job queue"]
    assert body["results"][0]["score_detail"]["semantic"] is None
