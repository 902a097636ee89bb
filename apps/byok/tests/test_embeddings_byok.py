"""The ``openai`` embeddings provider uses the space's BYOK key and records every call as a cost."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from apps.byok.models import ByokCredential
from apps.byok.services import byok_credential_create, byok_secret_for_endpoint
from apps.byok.tests.helpers import fresh_key
from apps.costs.models import CostEvent
from apps.memory import embeddings
from apps.memory.embeddings import EmbeddingUnavailable, OpenAICompatibleProvider, provider_for_space
from apps.memory.models import EmbeddingSettings
from apps.memory.tests.fake_openai import FakeEmbeddingServer
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


@pytest.fixture
def byok_key():
    return fresh_key("openai_compatible")


@pytest.fixture
def server(byok_key):
    """A fake OpenAI-compatible server that accepts only the space's own key."""
    with FakeEmbeddingServer(api_key=byok_key) as fake:
        yield fake


@pytest.fixture
def configured(settings, server):
    """The deployment points at the fake server with a deployment key the server refuses."""
    settings.EMBEDDINGS_PROVIDER = "openai"
    settings.EMBEDDINGS_BASE_URL = server.base_url
    settings.EMBEDDINGS_MODEL = "fake-embed-1"
    settings.EMBEDDINGS_API_KEY = "deployment-key"
    settings.EMBEDDINGS_DIMENSIONS = None
    settings.EMBEDDINGS_TIMEOUT_SECONDS = 5
    return server


def test_the_spaces_key_for_that_server_is_used_and_the_call_is_a_cost_event(space, configured, byok_key, caplog):
    caplog.set_level(logging.DEBUG)
    credential = byok_credential_create(
        space=space, service="openai_compatible", label="mine", key=byok_key, base_url=configured.base_url + "/v1/"
    )
    provider = provider_for_space(space)
    vectors = provider.embed(["alpha beta", "gamma delta epsilon"])
    assert len(vectors) == 2
    assert configured.requests[-1]["headers"]["Authorization"] == f"Bearer {byok_key}"

    event = CostEvent.objects.get(space=space)
    assert (event.provider, event.model, event.operation, event.source) == (
        "openai_compatible",
        "fake-embed-1",
        "embedding",
        "service",
    )
    assert (event.input_tokens, event.output_tokens) == (5, 0)  # the server's usage.prompt_tokens
    assert event.cost_usd is None and event.unpriced is True  # a self-hosted server has no list price
    credential.refresh_from_db()
    assert credential.last_used_at is not None

    provider.embed(["one more"])
    assert CostEvent.objects.filter(space=space, operation="embedding").count() == 2
    assert byok_key not in caplog.text and all(byok_key not in r.getMessage() for r in caplog.records)


def test_a_failed_call_records_no_cost(space, configured, byok_key):
    byok_credential_create(
        space=space, service="openai_compatible", label="mine", key=byok_key, base_url=configured.base_url
    )
    configured.fail_next(1, status=500)
    with pytest.raises(EmbeddingUnavailable):
        provider_for_space(space).embed(["x"])
    assert not CostEvent.objects.exists()


def test_without_a_matching_credential_the_deployment_key_is_used(space, configured):
    # An openai key belongs to OpenAI's API and a compatible key to its own URL: neither goes here.
    byok_credential_create(space=space, service="openai", label="openai", key=fresh_key("openai"))
    byok_credential_create(
        space=space,
        service="openai_compatible",
        label="elsewhere",
        key=fresh_key("openai_compatible"),
        base_url="https://llm.example.com/v1",
    )
    with pytest.raises(EmbeddingUnavailable, match="401"):
        provider_for_space(space).embed(["x"])
    assert configured.requests[-1]["headers"]["Authorization"] == "Bearer deployment-key"
    assert ByokCredential.objects.filter(last_used_at__isnull=False).count() == 0


def test_a_space_url_override_gets_its_own_byok_key(space, settings, byok_key):
    settings.EMBEDDINGS_PROVIDER = "none"
    with FakeEmbeddingServer(api_key=byok_key) as own:
        EmbeddingSettings.objects.create(space=space, provider="openai", base_url=own.base_url, model="own-model")
        byok_credential_create(
            space=space, service="openai_compatible", label="own", key=byok_key, base_url=own.base_url
        )
        provider_for_space(space).embed(["hello world"])
        assert own.requests[-1]["headers"]["Authorization"] == f"Bearer {byok_key}"
    assert CostEvent.objects.get(space=space).model == "own-model"


def test_building_a_provider_neither_reads_nor_marks_the_key(space, configured, byok_key, django_assert_num_queries):
    byok_credential_create(
        space=space, service="openai_compatible", label="mine", key=byok_key, base_url=configured.base_url
    )
    with django_assert_num_queries(1):  # the space's embedding settings only
        assert provider_for_space(space) is not None
    assert ByokCredential.objects.get(space=space).last_used_at is None


def test_openai_api_takes_the_openai_credential_and_its_calls_are_priced(space):
    openai_key = fresh_key("openai")
    byok_credential_create(space=space, service="openai", label="openai", key=openai_key)
    assert byok_secret_for_endpoint(space=space, base_url="https://api.openai.com") == openai_key
    assert byok_secret_for_endpoint(space=space, base_url="https://api.openai.com/v1/") == openai_key
    assert byok_secret_for_endpoint(space=space, base_url="http://api.openai.com") is None
    assert byok_secret_for_endpoint(space=space, base_url="https://api.openai.com.evil.example") is None

    # No network here: the cost of a finished call to OpenAI's API, 100,000 tokens of
    # text-embedding-3-small at $0.02 per million.
    provider = OpenAICompatibleProvider(base_url="https://api.openai.com", model="text-embedding-3-small", api_key=None)
    provider.last_usage = {"prompt_tokens": 100_000, "total_tokens": 100_000}
    embeddings._record_embedding_cost(provider, space=space, sent=["ignored"])
    event = CostEvent.objects.get(space=space)
    assert (event.provider, event.cost_usd, event.unpriced) == ("openai", Decimal("0.002"), False)


def test_without_usage_from_the_server_the_sent_tokens_are_counted(space):
    provider = OpenAICompatibleProvider(base_url="https://llm.example.com", model="m", api_key=None)
    provider.last_usage = None
    embeddings._record_embedding_cost(provider, space=space, sent=["hello world", "again"])
    assert CostEvent.objects.get(space=space).input_tokens == 3
