import math
import socket
import sys
import types

import pytest

from apps.memory import embeddings
from apps.memory.embeddings import (
    EmbeddingUnavailable,
    LocalProvider,
    OpenAICompatibleProvider,
    fit_to_tokens,
    provider_for_space,
)
from apps.memory.models import EmbeddingSettings
from apps.scopes.services import space_ensure_personal
from synchronex.api.tokens import count_tokens


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    )


def provider(server, **overrides) -> OpenAICompatibleProvider:
    kwargs = {"base_url": server.base_url, "model": "fake-embed-1", "api_key": server.api_key, "timeout": 5}
    kwargs.update(overrides)
    return OpenAICompatibleProvider(**kwargs)


# -- openai-compatible ---------------------------------------------------------------------------
def test_openai_provider_returns_one_vector_per_text_in_order(fake_openai):
    p = provider(fake_openai)
    texts = ["use postgres for search", "postgres search with trigram", "bake sourdough bread"]
    vectors = p.embed(texts)
    assert len(vectors) == 3 and all(len(v) == 64 for v in vectors)
    assert p.dimensions == 64
    # The fake answers out of order; similar texts must still land on similar vectors.
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    sent = fake_openai.requests[-1]
    assert sent["path"] == "/v1/embeddings"
    assert sent["body"] == {"model": "fake-embed-1", "input": texts}
    assert sent["headers"]["Authorization"] == f"Bearer {fake_openai.api_key}"
    assert p.last_usage["prompt_tokens"] > 0


def test_well_known_models_know_their_size_before_the_first_call(fake_openai):
    assert provider(fake_openai, model="text-embedding-3-small").dimensions == 1536
    assert provider(fake_openai, model="text-embedding-3-large").dimensions == 3072
    assert provider(fake_openai, model="unknown-model").dimensions is None
    assert provider(fake_openai, model="text-embedding-3-small", dimensions=256).dimensions == 256


def test_openai_provider_accepts_a_base_url_ending_in_v1(fake_openai):
    p = provider(fake_openai, base_url=fake_openai.base_url + "/v1/")
    assert len(p.embed(["hello"])) == 1
    assert fake_openai.requests[-1]["path"] == "/v1/embeddings"


def test_openai_provider_asks_for_configured_dimensions_and_checks_them(fake_openai):
    p = provider(fake_openai, dimensions=16)
    assert len(p.embed(["hello world"])[0]) == 16
    assert fake_openai.requests[-1]["body"]["dimensions"] == 16


def test_openai_provider_with_a_wrong_key_is_unavailable(fake_openai):
    with pytest.raises(EmbeddingUnavailable, match="401"):
        provider(fake_openai, api_key="wrong").embed(["hello"])


def test_openai_provider_without_a_key_is_unavailable(fake_openai):
    with pytest.raises(EmbeddingUnavailable, match="401"):
        provider(fake_openai, api_key=None).embed(["hello"])
    assert "Authorization" not in fake_openai.requests[-1]["headers"]


def test_openai_provider_server_error_is_unavailable(fake_openai):
    fake_openai.fail_next(1, status=500)
    with pytest.raises(EmbeddingUnavailable, match="500"):
        provider(fake_openai).embed(["hello"])
    assert len(provider(fake_openai).embed(["hello"])) == 1  # recovers once the server does


def test_openai_provider_timeout_is_unavailable(fake_openai):
    fake_openai.delay_seconds = 2
    with pytest.raises(EmbeddingUnavailable, match="unreachable"):
        provider(fake_openai, timeout=0.3).embed(["hello"])


def test_openai_provider_unreachable_server_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAICompatibleProvider(base_url=f"http://127.0.0.1:{port}", model="m", api_key="k", timeout=2)
    with pytest.raises(EmbeddingUnavailable, match="unreachable"):
        p.embed(["hello"])


def test_openai_provider_rejects_vectors_of_another_size(fake_openai):
    fake_openai.ignore_requested_dimensions = True
    with pytest.raises(EmbeddingUnavailable, match="64 dimensions, not 16"):
        provider(fake_openai, dimensions=16).embed(["hello"])


@pytest.mark.parametrize(
    "body",
    [
        {"data": "nope"},
        {"object": "list"},
        {"data": [{"index": 0, "embedding": [0.1, 0.2]}]},  # one vector for two texts
        {"data": [{"index": 0, "embedding": [0.1]}, {"index": 1, "embedding": [0.1, 0.2]}]},
        {"data": [{"index": 0, "embedding": ["a"]}, {"index": 1, "embedding": ["b"]}]},
        {"data": [{"index": 0, "embedding": []}, {"index": 1, "embedding": []}]},
    ],
)
def test_openai_provider_rejects_a_malformed_answer(fake_openai, body):
    fake_openai.respond_with = body
    with pytest.raises(EmbeddingUnavailable):
        provider(fake_openai).embed(["one", "two"])


def test_openai_provider_does_not_follow_redirects_with_the_key(fake_openai):
    with type(fake_openai)(api_key=None) as elsewhere:
        fake_openai.redirect_to = elsewhere.base_url + "/v1/embeddings"
        with pytest.raises(EmbeddingUnavailable, match="302"):
            provider(fake_openai).embed(["hello"])
        assert elsewhere.requests == []


@pytest.mark.parametrize("url", ["file:///etc", "ftp://example.invalid"])
def test_openai_provider_only_speaks_http(url):
    with pytest.raises(EmbeddingUnavailable, match="http"):
        OpenAICompatibleProvider(base_url=url, model="m", api_key="k").embed(["hello"])


def test_long_input_is_cut_to_the_token_limit(fake_openai):
    p = provider(fake_openai, max_input_tokens=50)
    p.embed(["word " * 500])
    sent = fake_openai.requests[-1]["body"]["input"][0]
    assert 0 < count_tokens(sent) <= 50


def test_fit_to_tokens_keeps_short_text_whole():
    assert fit_to_tokens("short text", 10) == "short text"
    assert count_tokens(fit_to_tokens("漢字" * 1000, 30)) <= 30


def test_empty_input_makes_no_call(fake_openai):
    assert provider(fake_openai).embed([]) == []
    assert fake_openai.requests == []


# -- local ---------------------------------------------------------------------------------------
def test_local_provider_says_clearly_when_sentence_transformers_is_missing(monkeypatch):
    embeddings._sentence_transformer.cache_clear()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(EmbeddingUnavailable, match="requirements-local.txt"):
        LocalProvider(model="all-MiniLM-L6-v2").embed(["hello"])
    embeddings._sentence_transformer.cache_clear()


def test_local_provider_loads_the_model_once_and_normalises(monkeypatch):
    loaded = []

    class FakeSentenceTransformer:
        def __init__(self, name):
            loaded.append(name)

        def encode(self, texts, normalize_embeddings, show_progress_bar):
            assert normalize_embeddings is True
            return [[float(len(t)), 1.0, 0.0] for t in texts]

    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = FakeSentenceTransformer
    embeddings._sentence_transformer.cache_clear()
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    p = LocalProvider(model="tiny-test-model")
    assert p.dimensions is None  # not a well-known model: learned from the first answer
    assert p.embed(["ab", "abc"]) == [[2.0, 1.0, 0.0], [3.0, 1.0, 0.0]]
    p.embed(["x"])
    assert loaded == ["tiny-test-model"] and p.dimensions == 3
    # A well-known model's size is known up front and enforced.
    with pytest.raises(EmbeddingUnavailable, match="3 dimensions, not 384"):
        LocalProvider(model="all-MiniLM-L6-v2").embed(["x"])
    embeddings._sentence_transformer.cache_clear()


# -- choosing a provider -------------------------------------------------------------------------
@pytest.fixture
def space(make_user):
    return space_ensure_personal(user=make_user())


@pytest.mark.django_db
def test_default_deployment_has_no_provider(space, settings):
    settings.EMBEDDINGS_PROVIDER = "none"
    assert provider_for_space(space) is None


@pytest.mark.django_db
def test_deployment_openai_settings_make_an_openai_provider(space, openai_embeddings):
    p = provider_for_space(space)
    assert isinstance(p, OpenAICompatibleProvider)
    assert (p.model, p.endpoint) == ("fake-embed-1", openai_embeddings.base_url + "/v1/embeddings")
    assert len(p.embed(["hi"])) == 1  # the deployment key is sent to the deployment server


@pytest.mark.django_db
def test_deployment_local_setting_uses_minilm(space, settings):
    settings.EMBEDDINGS_PROVIDER, settings.EMBEDDINGS_MODEL = "local", None
    p = provider_for_space(space)
    assert isinstance(p, LocalProvider) and p.model == "all-MiniLM-L6-v2"


@pytest.mark.django_db
def test_space_settings_override_the_deployment(space, openai_embeddings):
    EmbeddingSettings.objects.create(space=space, provider="none")
    assert provider_for_space(space) is None
    EmbeddingSettings.objects.filter(space=space).update(provider="local", model="")
    p = provider_for_space(space)
    assert isinstance(p, LocalProvider) and p.model == "all-MiniLM-L6-v2"  # not the deployment's openai model


@pytest.mark.django_db
def test_space_override_with_its_own_url_never_gets_the_deployment_key(space, openai_embeddings):
    with type(openai_embeddings)(api_key=None) as own_server:
        EmbeddingSettings.objects.create(
            space=space, provider="openai", base_url=own_server.base_url, model="self-hosted"
        )
        p = provider_for_space(space)
        assert p.model == "self-hosted"
        p.embed(["hello"])
        assert "Authorization" not in own_server.requests[-1]["headers"]


@pytest.mark.django_db
def test_byok_hook_key_wins_over_the_deployment_key(space, openai_embeddings, monkeypatch):
    monkeypatch.setattr(embeddings, "byok_api_key_for_space", lambda space, base_url: "space-own-key")
    with pytest.raises(EmbeddingUnavailable, match="401"):  # the fake only knows the deployment key
        provider_for_space(space).embed(["hello"])
    assert openai_embeddings.requests[-1]["headers"]["Authorization"] == "Bearer space-own-key"
