"""The admin lists, searches, filters and shows memories (read-only) and edits embedding settings."""

from __future__ import annotations

import uuid

import pytest

from apps.memory.models import EmbeddingSettings
from apps.memory.services import memory_create
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db


@pytest.fixture
def memory(user):
    data = {
        "id": str(uuid.uuid4()),
        "content": "Imported <b>note</b> about PostgreSQL",
        "memory_type": "learning",
        "created_at": "2026-01-01T00:00:00Z",
    }
    return memory_create(space=space_ensure_personal(user=user), data=data)


def test_admin_lists_searches_and_filters_memories(admin_client, memory):
    page = admin_client.get("/admin/memory/memory/")
    assert page.status_code == 200 and str(memory.memory_id) in page.content.decode()
    assert str(memory.memory_id) in admin_client.get("/admin/memory/memory/?q=postgresql").content.decode()
    assert str(memory.memory_id) not in admin_client.get("/admin/memory/memory/?q=mysql").content.decode()
    filtered = admin_client.get("/admin/memory/memory/?memory_type=learning").content.decode()
    assert str(memory.memory_id) in filtered


def test_admin_shows_a_memory_read_only(admin_client, memory):
    page = admin_client.get(f"/admin/memory/memory/{memory.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Imported &lt;b&gt;note&lt;/b&gt;" in html
    assert 'name="content"' not in html  # nothing is editable
    assert admin_client.get("/admin/memory/memory/add/").status_code == 403


def test_admin_sets_a_space_embedding_override(admin_client, user):
    space = space_ensure_personal(user=user)
    response = admin_client.post(
        "/admin/memory/embeddingsettings/add/",
        {"space": str(space.id), "provider": "local", "base_url": "", "model": ""},
    )
    assert response.status_code == 302
    assert EmbeddingSettings.objects.get(space=space).provider == "local"
    assert admin_client.get("/admin/memory/embeddingsettings/").status_code == 200


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://127.0.0.1:2121/v1",  # the worker could only fail on it, again and again
        "https://user:pass@llm.example.com/v1",  # credentials belong in a key
        "https://llm.example.com/v1?x=1#f",
        "http://llm.example.com/v1",  # every text of the space in clear to a remote host
    ],
)
def test_admin_refuses_an_embedding_server_the_byok_api_refuses(admin_client, user, base_url):
    space = space_ensure_personal(user=user)
    data = {"space": str(space.id), "provider": "openai", "base_url": base_url, "model": ""}
    response = admin_client.post("/admin/memory/embeddingsettings/add/", data)
    assert response.status_code == 200 and response.context["adminform"].form.errors["base_url"]
    assert not EmbeddingSettings.objects.filter(space=space).exists()


@pytest.mark.parametrize("base_url", ["https://llm.example.com/v1", "http://localhost:8080/v1", "http://127.0.0.1/v1"])
def test_admin_takes_an_https_or_loopback_embedding_server(admin_client, user, base_url):
    space = space_ensure_personal(user=user)
    data = {"space": str(space.id), "provider": "openai", "base_url": base_url, "model": ""}
    assert admin_client.post("/admin/memory/embeddingsettings/add/", data).status_code == 302
    assert EmbeddingSettings.objects.get(space=space).base_url == base_url
