"""Ingest and the OAuth scopes: decision signals need decisions:write, as every way of writing decisions does."""

from __future__ import annotations

import pytest
import requests

from apps.oauth.tests.helpers import PASSWORD, obtain_tokens

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base_url(live_server, settings):
    """The live server as the public origin, so OAuth tokens are issued for its resource."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    return live_server.url


@pytest.fixture
def person(make_user):
    return make_user(tier="pro", password=PASSWORD)


def _post(base_url, token, body):
    return requests.post(
        f"{base_url}/api/v1/ingest/Acme", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_decision_signals_need_decisions_write(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email, scope="memory:read memory:write")
    token = tokens["access_token"]
    refused = _post(base_url, token, {"type": "decision", "title": "Raise prices", "body": "why"})
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "FORBIDDEN" and error["details"]["required_scopes"] == ["decisions:write"]
    batch = {"signals": [{"type": "note", "title": "fine"}, {"type": "decision", "title": "Raise prices"}]}
    assert _post(base_url, token, batch).status_code == 403  # a batch is atomic: nothing of it is stored
    assert _post(base_url, token, {"type": "note", "title": "fine"}).status_code == 202
    searched = requests.get(
        f"{base_url}/api/v1/memory/search",
        params={"q": "fine"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    assert [hit["title"] for hit in searched["results"]] == ["note: fine"], searched


def test_with_decisions_write_a_decision_signal_records_the_decision(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email, scope="memory:write decisions:read decisions:write")
    token = tokens["access_token"]
    assert _post(base_url, token, {"type": "decision", "title": "Raise prices"}).status_code == 202
    found = requests.get(
        f"{base_url}/api/v1/memory/decisions/search",
        params={"q": "prices"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    assert [d["decision"] for d in found["results"]] == ["Raise prices"]
