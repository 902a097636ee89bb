import pytest

from apps.memory.tests.fake_openai import FakeEmbeddingServer


@pytest.fixture
def fake_openai():
    with FakeEmbeddingServer() as server:
        yield server


@pytest.fixture
def openai_embeddings(settings, fake_openai):
    """The deployment configured for the fake OpenAI-compatible server."""
    settings.EMBEDDINGS_PROVIDER = "openai"
    settings.EMBEDDINGS_BASE_URL = fake_openai.base_url
    settings.EMBEDDINGS_MODEL = "fake-embed-1"
    settings.EMBEDDINGS_API_KEY = fake_openai.api_key
    settings.EMBEDDINGS_DIMENSIONS = None
    settings.EMBEDDINGS_TIMEOUT_SECONDS = 5
    return fake_openai
