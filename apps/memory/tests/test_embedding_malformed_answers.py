"""A provider's answer that cannot be matched to what was sent is a provider failure
(``EmbeddingUnavailable``), whatever is wrong with it: its shape (``embedding`` null, a number, a
string or an object; ``data`` items that are no objects; JSON nested too deep to parse), its
``index`` fields (not exactly 0..n-1, each once), or its size (a vector beyond the 16,000
dimensions pgvector stores, a body beyond what n such vectors take). Decision search then ranks by
keywords (``"semantic": false``), the embedding task retries it like any provider failure, and
consolidation succeeds with the rows left pending. The fake OpenAI-compatible server answers over
real HTTP on 127.0.0.1; searches go through the live server with real tokens."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.decisions.models import Decision
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.memory.embedding_runs import embeddings_compute_pending
from apps.memory.embeddings import EmbeddingUnavailable, OpenAICompatibleProvider
from apps.memory.models import ConsolidationJob, Memory
from apps.memory.services import MAX_EMBEDDING_DIMENSIONS
from apps.memory.tasks import embed_pending
from apps.memory.tests.fake_openai import bag_of_words_vector
from apps.memory.tests.test_embedding_task import add_memories
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal
from tests.support.workers import publishing_to, sqla_broker_url

pytestmark = pytest.mark.django_db(transaction=True)

SEARCH = "/api/v1/memory/decisions/search"
EXPORT = "/api/v1/kernel/export"
DIMENSIONS = 64  # the fake server's default size
VECTOR = [0.125] * DIMENSIONS
DEEP = 200_000  # brackets: far beyond what Python's json parser recurses into

# Answers to one text whose shape is wrong: each is a provider failure.
MALFORMED_SHAPES = {
    "embedding-null": {"data": [{"index": 0, "embedding": None}]},
    "embedding-number": {"data": [{"index": 0, "embedding": 5}]},
    "embedding-string": {"data": [{"index": 0, "embedding": "0.5"}]},
    "embedding-object": {"data": [{"index": 0, "embedding": {"0": 0.5}}]},
    "embedding-nested": {"data": [{"index": 0, "embedding": [VECTOR]}]},
    "item-number": {"data": [5]},
    "item-list": {"data": [[0, VECTOR]]},
    "no-index": {"data": [{"embedding": VECTOR}]},
    "index-string": {"data": [{"index": "0", "embedding": VECTOR}]},
    "index-bool": {"data": [{"index": False, "embedding": VECTOR}]},
    "index-float": {"data": [{"index": 0.0, "embedding": VECTOR}]},
}
# Bodies json.dumps cannot write: nesting deep enough to exhaust the parser's recursion.
DEEP_BODIES = {
    "deep-top-level": b"[" * DEEP + b"]" * DEEP,
    "deep-embedding": b'{"data": [{"index": 0, "embedding": ' + b"[" * DEEP + b"]" * DEEP + b"}]}",
}
ALL_MALFORMED = {**MALFORMED_SHAPES, **DEEP_BODIES}


def serve(server, answer) -> None:
    if isinstance(answer, bytes):
        server.respond_raw = answer
    else:
        server.respond_with = answer


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def provider(server, **overrides) -> OpenAICompatibleProvider:
    kwargs = {"base_url": server.base_url, "model": "fake-embed-1", "api_key": server.api_key, "timeout": 5}
    return OpenAICompatibleProvider(**{**kwargs, **overrides})


def item(index, text: str) -> dict:
    return {"object": "embedding", "index": index, "embedding": bag_of_words_vector(text, DIMENSIONS)}


# -- finding: a malformed shape ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_MALFORMED)
def test_search_ranks_by_keywords_when_the_answer_is_malformed(read_api, embedded, name):
    serve(embedded, ALL_MALFORMED[name])
    for _ in range(2):  # a malformed answer does not pause the provider: each search asks again
        response = read_api.get(SEARCH, params={"q": "redis"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["semantic"] is False
        assert [hit["decision"] for hit in body["results"]] == ["Use Redis for the job queue"]


@pytest.mark.parametrize("name", ["embedding-null", "deep-top-level"])
def test_the_kernel_export_ranks_by_keywords_when_the_answer_is_malformed(read_api, embedded, name):
    serve(embedded, ALL_MALFORMED[name])
    response = read_api.get(EXPORT, params={"format": "json", "query": "redis", "product": "Atlas"})
    assert response.status_code == 200, response.text
    assert "Use Redis for the job queue" in response.json()["content"]


@pytest.mark.parametrize("name", ALL_MALFORMED)
def test_the_embedding_task_retries_a_malformed_answer_as_a_provider_failure(space, openai_embeddings, name):
    add_memories(space, "a")
    serve(openai_embeddings, ALL_MALFORMED[name])
    result = embed_pending.apply(args=[str(space.id)])
    assert result.failed()
    assert isinstance(result.result, EmbeddingUnavailable), repr(result.result)
    assert "malformed" in str(result.result)
    assert len(openai_embeddings.requests) == embed_pending.max_retries + 1
    assert Memory.objects.get().embedding is None  # still pending, for the next run or the sweep


@pytest.mark.parametrize("name", ["embedding-null", "embedding-number", "deep-embedding"])
def test_consolidation_succeeds_and_leaves_the_rows_pending(space, openai_embeddings, name):
    product = product_ensure(space=space, name="Atlas")
    Decision.objects.create(space=space, product=product, decision="Use Redis for the job queue")
    serve(openai_embeddings, ALL_MALFORMED[name])
    # Step 5 hands the embeddings to the embedding task when the provider fails: a real message
    # on the test database's broker.
    with publishing_to(sqla_broker_url(connection.settings_dict)):
        job, _ = consolidation_job_request(space=space)
        assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    job = ConsolidationJob.objects.get(pk=job.pk)
    assert job.status == "succeeded" and job.error is None
    assert job.stats["embeddings_computed"] == 0
    assert Decision.objects.get().embedding is None


# -- finding: index fields ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "indices",
    [[0, 0], [1, 1], [0, 2], [-1, 0], [1, 2], [0, True], [0, "1"], [0, 1.0], [0, None]],
    ids=repr,
)
def test_an_answer_whose_indices_are_not_each_input_once_is_refused(fake_openai, indices):
    texts = ["grow heirloom apples", "photograph zebras"]
    fake_openai.respond_with = {"data": [item(index, text) for index, text in zip(indices, texts, strict=True)]}
    with pytest.raises(EmbeddingUnavailable, match="malformed"):
        provider(fake_openai).embed(texts)


def test_an_answer_in_another_order_is_put_back_in_order_by_its_indices(fake_openai):
    texts = ["grow heirloom apples", "photograph zebras", "brew oolong tea"]
    fake_openai.respond_with = {"data": [item(2, texts[2]), item(0, texts[0]), item(1, texts[1])]}
    vectors = provider(fake_openai).embed(texts)
    assert vectors == [pytest.approx(bag_of_words_vector(text, DIMENSIONS)) for text in texts]


def test_duplicate_indices_store_no_vector_on_the_wrong_row(space, openai_embeddings):
    """The probe's case: right vectors, each marked ``index: 0`` — stored, they landed swapped."""
    texts = ["Grow heirloom apples in the orchard", "Photograph zebras on the savanna"]
    add_memories(space, *texts)
    openai_embeddings.respond_with = {"data": [item(0, texts[1]), item(0, texts[0])]}
    result = embed_pending.apply(args=[str(space.id)])
    assert result.failed() and isinstance(result.result, EmbeddingUnavailable), repr(result.result)
    assert not Memory.objects.filter(embedding__isnull=False).exists()


# -- finding: size bounds -------------------------------------------------------------------------
def test_a_vector_larger_than_pgvector_stores_is_a_provider_failure_not_a_database_error(space, openai_embeddings):
    add_memories(space, "a")
    too_large = MAX_EMBEDDING_DIMENSIONS + 1
    openai_embeddings.respond_with = {"data": [{"index": 0, "embedding": [0.5] * too_large}]}
    result = embed_pending.apply(args=[str(space.id)])
    assert result.failed()
    assert isinstance(result.result, EmbeddingUnavailable), repr(result.result)
    assert f"{MAX_EMBEDDING_DIMENSIONS}" in str(result.result)
    assert Memory.objects.get().embedding is None


def test_the_largest_vector_pgvector_stores_is_accepted(space, openai_embeddings):
    add_memories(space, "a")
    openai_embeddings.respond_with = {"data": [{"index": 0, "embedding": [0.5] * MAX_EMBEDDING_DIMENSIONS}]}
    assert embeddings_compute_pending(space=space)["memories"] == 1
    assert Memory.objects.get().embedding_dimensions == MAX_EMBEDDING_DIMENSIONS


def test_a_body_larger_than_the_vectors_asked_for_can_take_is_not_parsed(fake_openai):
    # One text of an unknown model: at most 16,000 numbers, well under 1 MiB however written.
    fake_openai.respond_with = {"data": [{"index": 0, "embedding": [0.5] * 1_000_000}]}
    with pytest.raises(EmbeddingUnavailable, match="malformed.*larger"):
        provider(fake_openai).embed(["hello"])


def test_a_body_with_more_numbers_than_the_vectors_asked_for_is_not_parsed(fake_openai):
    # Within the byte bound, but far more values than one vector of the known size holds.
    fake_openai.respond_raw = b'{"data": [{"index": 0, "embedding": [' + b"0," * 20_000 + b"1]}]}"
    with pytest.raises(EmbeddingUnavailable, match="malformed.*values"):
        provider(fake_openai, dimensions=DIMENSIONS).embed(["hello"])


def test_a_known_size_bounds_the_body_more_tightly(fake_openai):
    # 64 dimensions known: a 16,000-number vector is refused before parsing, by its size alone.
    fake_openai.respond_with = {"data": [{"index": 0, "embedding": [0.123456789] * 16_000}]}
    with pytest.raises(EmbeddingUnavailable, match="malformed.*larger"):
        provider(fake_openai, dimensions=DIMENSIONS).embed(["hello"])
