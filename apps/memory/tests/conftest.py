import pytest

from apps.decisions.models import Decision
from apps.memory.embedding_runs import embeddings_compute_pending
from apps.memory.tests.fake_openai import FakeEmbeddingServer
from apps.products.services import product_ensure

FAKE_DIMENSIONS = 64  # the fake server's default size


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


@pytest.fixture
def embedded(space, openai_embeddings):
    """Two decisions of the test module's ``space`` with vectors of the fake server's model, as it
    computed them."""
    product = product_ensure(space=space, name="Atlas")
    for text in ("Use Redis for the job queue", "Deploy on Fly.io machines"):
        Decision.objects.create(space=space, product=product, decision=text)
    assert embeddings_compute_pending(space=space)["decisions"] == 2
    assert set(Decision.objects.values_list("embedding_dimensions", flat=True)) == {FAKE_DIMENSIONS}
    return openai_embeddings
