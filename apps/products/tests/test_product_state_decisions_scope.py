"""Product state's ``recent_decisions`` are decisions: only tokens with decisions:read see them (SPEC §2)."""

from __future__ import annotations

import pytest

from apps.oauth.tests.helpers import PASSWORD, obtain_tokens
from apps.products.tests.test_product_state_api import state_path
from conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base_url(live_server, settings):
    """The live server as the public origin, which OAuth tokens are issued for."""
    url = live_server.url
    settings.PUBLIC_BASE_URL = url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": url}
    return url


def oauth_client(base_url: str, email: str, scope: str) -> Api:
    _, tokens = obtain_tokens(base_url, email, scope=scope)
    return Api(base_url, tokens["access_token"])


def test_product_state_shows_recent_decisions_only_to_tokens_with_decisions_read(base_url, make_user, client_for):
    person = make_user(tier="pro", password=PASSWORD)
    client_for(person).post("/api/v1/memory/decisions", json={"decision": "Use Postgres", "product_name": "Atlas"})
    without = oauth_client(base_url, person.email, "memory:read memory:write")
    with_read = oauth_client(base_url, person.email, "memory:read decisions:read")

    read = without.get(state_path("Atlas"))
    assert read.status_code == 200, read.text
    assert read.json()["recent_decisions"] == []
    written = without.post(state_path("Atlas"), json={"status": "paused"})
    assert written.status_code == 200, written.text
    assert written.json()["recent_decisions"] == [] and written.json()["status"] == "paused"

    allowed = with_read.get(state_path("Atlas"))
    assert [d["decision"] for d in allowed.json()["recent_decisions"]] == ["Use Postgres"]
