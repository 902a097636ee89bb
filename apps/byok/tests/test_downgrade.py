"""BYOK after a plan change (SPEC §2, §9): a space's credentials can be listed and deleted on any
plan, but only a space whose plan has BYOK adds them or uses them, and an upgrade brings the kept
ones back into use."""

from __future__ import annotations

import pytest

from apps.accounts.models import User
from apps.byok.models import ByokCredential
from apps.byok.services import byok_credential_create, byok_secret_for, byok_secret_for_endpoint
from apps.byok.tests.helpers import URL, fresh_key
from apps.decisions.tests.helpers import record, search
from apps.memory.embedding_runs import embeddings_compute_pending
from apps.memory.embeddings import provider_for_space
from apps.memory.models import EmbeddingSettings
from apps.memory.tests.fake_openai import FakeEmbeddingServer
from apps.scopes.models import Membership
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)


def set_tier(user, tier: str) -> None:
    User.objects.filter(pk=user.pk).update(tier=tier)


def add(client, label: str, headers: dict | None = None):
    return client.post(URL, json={"service": "openai", "label": label, "key": fresh_key()}, headers=headers)


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["results"]]


def test_a_downgraded_account_lists_and_deletes_its_credentials_but_cannot_add_one(write_api, read_api, user):
    kept, dropped = (add(write_api, label).json()["id"] for label in ("kept", "dropped"))
    set_tier(user, "free")

    assert ids(write_api.get(URL)) == [kept, dropped]
    assert ids(read_api.get(URL)) == [kept, dropped]
    body = refused(add(write_api, "new"), 403, "TIER_REQUIRED")
    assert body["details"] == {"required_tier": "pro", "current_tier": "free"}
    # The scopes still govern: a read key lists but does not delete.
    refused(read_api.delete(f"{URL}/{dropped}"), 403, "FORBIDDEN")
    assert write_api.delete(f"{URL}/{dropped}").status_code == 204
    refused(write_api.delete(f"{URL}/{dropped}"), 404, "NOT_FOUND")

    set_tier(user, "pro")
    assert ids(write_api.get(URL)) == [kept]


def test_after_the_owners_downgrade_workspace_members_delete_per_their_role(client_for, make_user):
    owner, member, viewer = make_user(tier="team"), make_user(), make_user()
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    Membership.objects.create(space=workspace, user=member, role="member")
    Membership.objects.create(space=workspace, user=viewer, role="viewer")
    here = {"X-Synchronex-Scope": str(workspace.id)}
    owner_api, member_api, viewer_api = client_for(owner), client_for(member), client_for(viewer)
    first, second = (add(owner_api, label, here).json()["id"] for label in ("one", "two"))
    set_tier(owner, "free")

    assert ids(viewer_api.get(URL, headers=here)) == [first, second]
    refused(viewer_api.delete(f"{URL}/{first}", headers=here), 403, "FORBIDDEN")
    body = refused(add(member_api, "mine", here), 403, "TIER_REQUIRED")
    assert body["details"] == {"required_tier": "pro", "current_tier": "free"}  # the owner's plan
    assert member_api.delete(f"{URL}/{first}", headers=here).status_code == 204
    assert owner_api.delete(f"{URL}/{second}", headers=here).status_code == 204
    assert ids(owner_api.get(URL, headers=here)) == []


@pytest.fixture
def no_embedding_tasks(monkeypatch):
    """Vectors are made by calling the service here, not by the worker."""
    monkeypatch.setattr("apps.memory.tasks.embed_pending.delay", lambda **kwargs: None)


def test_a_downgraded_space_does_not_call_its_byok_server_and_an_upgraded_one_does(
    settings, user, write_api, no_embedding_tasks
):
    settings.EMBEDDINGS_PROVIDER = "none"  # the service has no provider of its own
    key = fresh_key("openai_compatible")
    space = space_ensure_personal(user=user)
    with FakeEmbeddingServer(api_key=key) as byok_server:
        EmbeddingSettings.objects.create(space=space, provider="openai", base_url=byok_server.base_url, model="own")
        byok_credential_create(
            space=space, service="openai_compatible", label="own", key=key, base_url=byok_server.base_url + "/v1"
        )
        record(write_api, "Use Kafka for events")
        assert embeddings_compute_pending(space=space)["decisions"] == 1
        assert search(write_api, q="events")["semantic"] is True
        assert len(byok_server.requests) == 2

        set_tier(user, "free")
        record(write_api, "Deploy on Fly.io machines")
        assert embeddings_compute_pending(space=space)["decisions"] == 0
        assert search(write_api, q="events")["semantic"] is False
        assert len(byok_server.requests) == 2  # not called, not even without the key
        assert ByokCredential.objects.filter(space=space).count() == 1  # kept for an upgrade

        set_tier(user, "pro")
        assert embeddings_compute_pending(space=space)["decisions"] == 1
        assert search(write_api, q="events")["semantic"] is True
        assert len(byok_server.requests) == 4
    assert {r["headers"]["Authorization"] for r in byok_server.requests} == {f"Bearer {key}"}


def test_on_the_services_own_server_a_downgraded_space_gets_the_services_key(settings, user):
    key = fresh_key("openai_compatible")
    space = space_ensure_personal(user=user)
    with FakeEmbeddingServer(api_key=None) as server:
        settings.EMBEDDINGS_PROVIDER = "openai"
        settings.EMBEDDINGS_BASE_URL = server.base_url
        settings.EMBEDDINGS_MODEL = "fake-embed-1"
        settings.EMBEDDINGS_API_KEY = "deployment-key"
        settings.EMBEDDINGS_DIMENSIONS = None
        credential = byok_credential_create(
            space=space, service="openai_compatible", label="own", key=key, base_url=server.base_url
        )

        def authorization() -> str:
            provider_for_space(space).embed(["hello world"])
            return server.requests[-1]["headers"]["Authorization"]

        assert authorization() == f"Bearer {key}"
        credential.refresh_from_db()
        used_at = credential.last_used_at

        set_tier(user, "free")
        assert authorization() == "Bearer deployment-key"
        assert byok_secret_for_endpoint(space=space, base_url=server.base_url) is None
        assert byok_secret_for(space=space, service="openai_compatible") is None
        credential.refresh_from_db()
        assert credential.last_used_at == used_at  # not read, not marked

        set_tier(user, "pro")
        assert authorization() == f"Bearer {key}"
