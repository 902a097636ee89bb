"""A provider that hangs, is down or answers 429 is paused (``apps.memory.embedding_pause``): one
search pays its timeout, the following ones answer by keywords at once without calling it, and
after the pause the next search tries it again. A Retry-After sets the pause's length, and the
embedding service honours it as well. The fake OpenAI-compatible server answers over real HTTP on
127.0.0.1; searches go through the live server."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from apps.decisions.models import Decision
from apps.mcp.tests.conftest import Mcp
from apps.memory.embedding_runs import embeddings_compute_pending
from apps.memory.embeddings import EmbeddingUnavailable, OpenAICompatibleProvider
from apps.memory.models import Memory
from apps.memory.tests.test_embedding_task import add_memories
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

SEARCH = "/api/v1/memory/decisions/search"
EXPORT = "/api/v1/kernel/export"
TIMEOUT = 2  # EMBEDDINGS_TIMEOUT_SECONDS in these tests
PAUSE = 3  # EMBEDDINGS_PAUSE_SECONDS in these tests: outlasts the searches made during it
QUICK = 1.0  # a search that does not wait on the provider answers well within this


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


@pytest.fixture
def embedded(space, openai_embeddings, settings):
    """Two decisions with vectors of the space's model, then the fake server's log emptied."""
    settings.EMBEDDINGS_TIMEOUT_SECONDS = TIMEOUT
    settings.EMBEDDINGS_PAUSE_SECONDS = PAUSE
    product = product_ensure(space=space, name="Atlas")
    for text in ("Use Redis for the job queue", "Deploy on Fly.io machines"):
        Decision.objects.create(space=space, product=product, decision=text)
    assert embeddings_compute_pending(space=space)["decisions"] == 2
    openai_embeddings.requests.clear()
    return openai_embeddings


def timed_search(client, **params) -> tuple[dict, float]:
    started = time.monotonic()
    response = client.get(SEARCH, params=params)
    spent = time.monotonic() - started
    assert response.status_code == 200, response.text
    return response.json(), spent


def mcp_search(client, query: str) -> dict:
    return Mcp(client.base_url, client.token).tool("search_decisions", {"query": query})


def test_a_hung_provider_costs_one_timeout_then_searches_answer_by_keywords_at_once(read_api, embedded):
    embedded.delay_seconds = TIMEOUT + 2  # answers long after the timeout
    body, spent = timed_search(read_api, q="redis", limit=1)
    failed_at = time.monotonic()
    assert body["semantic"] is False and spent >= TIMEOUT * 0.9
    assert len(embedded.requests) == 1

    # Paused: every caller of the query embedding answers by keywords without calling it.
    for _ in range(3):
        body, spent = timed_search(read_api, q="redis", limit=1)
        assert body["semantic"] is False and spent < QUICK
        assert [hit["decision"] for hit in body["results"]] == ["Use Redis for the job queue"]
    started = time.monotonic()
    export = read_api.get(EXPORT, params={"format": "json", "query": "redis", "product": "Atlas"})
    assert export.status_code == 200 and time.monotonic() - started < QUICK
    assert "Use Redis for the job queue" in export.json()["content"]
    started = time.monotonic()
    assert mcp_search(read_api, "redis")["semantic"] is False and time.monotonic() - started < QUICK
    assert len(embedded.requests) == 1

    # After the pause, the next search tries the provider again.
    embedded.delay_seconds = 0
    time.sleep(max(0.0, failed_at + PAUSE + 0.1 - time.monotonic()))
    body, _ = timed_search(read_api, q="redis", limit=1)
    assert body["semantic"] is True
    assert len(embedded.requests) == 2


def test_a_429_with_retry_after_pauses_searches_for_that_long(read_api, embedded, settings):
    settings.EMBEDDINGS_PAUSE_SECONDS = 600  # the provider's Retry-After decides, not the setting
    embedded.fail_headers = {"Retry-After": "1"}
    embedded.fail_next(1, status=429)
    assert timed_search(read_api, q="redis")[0]["semantic"] is False
    failed_at = time.monotonic()
    assert timed_search(read_api, q="redis")[0]["semantic"] is False
    assert len(embedded.requests) == 1
    time.sleep(max(0.0, failed_at + 1.1 - time.monotonic()))
    assert timed_search(read_api, q="redis")[0]["semantic"] is True
    assert len(embedded.requests) == 2


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_provider_error_pauses_searches(read_api, embedded, status):
    embedded.fail_next(1, status=status)
    assert timed_search(read_api, q="redis")[0]["semantic"] is False
    assert timed_search(read_api, q="redis")[0]["semantic"] is False
    assert len(embedded.requests) == 1


def test_an_answer_that_is_not_the_providers_being_down_does_not_pause(read_api, embedded):
    embedded.fail_next(1, status=400)
    assert timed_search(read_api, q="redis")[0]["semantic"] is False
    assert timed_search(read_api, q="redis")[0]["semantic"] is True
    assert len(embedded.requests) == 2


def test_a_pause_of_zero_seconds_lets_every_search_try(read_api, embedded, settings):
    settings.EMBEDDINGS_PAUSE_SECONDS = 0
    embedded.fail_next(1, status=503)
    assert timed_search(read_api, q="redis")[0]["semantic"] is False
    assert timed_search(read_api, q="redis")[0]["semantic"] is True


def test_a_pause_is_per_server_model_and_key_and_never_holds_the_key(openai_embeddings):
    from apps.memory import embedding_pause

    def make(**overrides):
        params = {"base_url": openai_embeddings.base_url, "model": "m", "api_key": "sk-secret-one", **overrides}
        return OpenAICompatibleProvider(**params)

    embedding_pause.pause(make(), 60)
    assert 59 < embedding_pause.remaining(make()) <= 60
    assert embedding_pause.remaining(make(api_key="sk-secret-two")) == 0  # a space's own key
    assert embedding_pause.remaining(make(model="other")) == 0
    assert embedding_pause.remaining(make(base_url="http://127.0.0.1:9")) == 0
    assert "sk-secret-one" not in embedding_pause.pause_key(make())


def test_retry_after_is_read_in_seconds_or_as_a_date_and_capped(openai_embeddings):
    from apps.memory import embedding_pause

    provider = OpenAICompatibleProvider(
        base_url=openai_embeddings.base_url, model="m", api_key=openai_embeddings.api_key, timeout=TIMEOUT
    )

    def retry_after(value: str | None, status: int = 429):
        openai_embeddings.fail_headers = {"Retry-After": value} if value is not None else {}
        openai_embeddings.fail_next(1, status=status)
        with pytest.raises(EmbeddingUnavailable) as failure:
            provider.embed(["hello"])
        return failure.value.retry_after

    assert retry_after("7") == 7
    assert retry_after("7", status=503) == 7
    assert 25 <= retry_after(formatdate(time.time() + 30, usegmt=True)) <= 30
    assert retry_after(formatdate(time.time() - 30, usegmt=True)) == 0
    assert retry_after("86400") == embedding_pause.RETRY_AFTER_MAX_SECONDS
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_the_embedding_service_honours_retry_after_and_does_not_call_a_paused_provider(space, openai_embeddings):
    add_memories(space, "alpha", "beta")
    openai_embeddings.fail_headers = {"Retry-After": "1"}
    openai_embeddings.fail_next(1, status=429)
    with pytest.raises(EmbeddingUnavailable) as failure:
        embeddings_compute_pending(space=space)
    assert failure.value.retry_after == 1
    failed_at = time.monotonic()
    with pytest.raises(EmbeddingUnavailable) as paused:
        embeddings_compute_pending(space=space)
    assert 0 < paused.value.retry_after <= 1  # what is left of the pause: the task's countdown
    assert len(openai_embeddings.requests) == 1
    time.sleep(max(0.0, failed_at + 1.1 - time.monotonic()))
    assert embeddings_compute_pending(space=space)["memories"] == 2
    assert not Memory.objects.filter(embedding__isnull=True).exists()


def test_a_task_failure_without_retry_after_does_not_pause(space, openai_embeddings):
    # One failure of the embedding task keeps its own backoff; searches are not held off by it.
    add_memories(space, "alpha")
    openai_embeddings.fail_next(1, status=503)
    with pytest.raises(EmbeddingUnavailable) as failure:
        embeddings_compute_pending(space=space)
    assert failure.value.retry_after is None
    assert embeddings_compute_pending(space=space)["memories"] == 1
