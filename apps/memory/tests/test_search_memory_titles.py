"""A generic memory's title (MIF ``metadata.title``, when a string) is what memory search shows as
its title, so it is searched too: at weight A in its document, and in the text typo tolerance
compares (``apps.memory.models.memory_typo_text``), whichever path wrote the memory."""

import importlib

import pytest
from django.db import connection

from apps.memory.models import Memory
from apps.memory.services import memory_create
from apps.memory.tests.mif_support import import_document, mif_document, mif_memory
from apps.scopes.services import space_ensure_personal

URL = "/api/v1/memory/search"
CONTENT = "Context: the team uses snake_case for Python and camelCase for TypeScript"
pytestmark = pytest.mark.django_db(transaction=True)


def titled(**overrides) -> dict:
    return mif_memory(**{"content": CONTENT, "metadata": {"title": "Naming conventions"}, **overrides})


def found(client, q: str) -> list[tuple[str, float]]:
    response = client.get(URL, params={"q": q, "types": "memory"})
    assert response.status_code == 200, response.text
    return [(item["title"], item["score"]) for item in response.json()["results"]]


def test_an_imported_memory_is_found_by_its_title(user, client_for):
    client = client_for(user)
    body = import_document(client, mif_document([titled()])).json()
    assert (body["memories_imported"], body["errors"]) == (1, [])
    [(title, score)] = found(client, "Naming conventions")
    assert title == "Naming conventions"
    assert score > 0.5  # a full-text match, not a typo one
    assert [title for title, _ in found(client, "snake_case camelCase")] == ["Naming conventions"]


def test_a_misspelt_title_is_found_as_a_typo(user, client_for):
    client = client_for(user)
    import_document(client, mif_document([titled()]))
    [(title, score)] = found(client, "conventons")
    assert title == "Naming conventions"
    assert 0 < score <= 0.5  # a typo-only match


def test_a_title_that_is_not_text_is_not_searched(user, client_for):
    client = client_for(user)
    import_document(client, mif_document([mif_memory(content=CONTENT, metadata={"title": {"en": "Naming rules"}})]))
    assert found(client, "rules") == []
    assert len(found(client, "camelCase")) == 1


def test_every_write_path_builds_the_same_document(user, make_user, client_for):
    # The batched import (one INSERT … SELECT) and memory_create (the API's single writes and an
    # import's fallback) build the document each in their own way: they must agree.
    data = titled(tags=["style"], memory_type="convention", entities=[{"name": "Python"}])
    import_document(client_for(user), mif_document([data]))
    memory_create(space=space_ensure_personal(user=make_user()), data=data)
    imported, created = Memory.objects.order_by("stored_at").values_list("search", flat=True)
    assert imported == created
    assert "'name':1A" in imported


def _migration():
    return importlib.import_module("apps.memory.migrations.0012_memory_title_searched")


def test_the_migration_adds_the_titles_of_memories_stored_before(user, client_for, monkeypatch):
    space = space_ensure_personal(user=user)
    memories = [memory_create(space=space, data=titled(content=f"{CONTENT} {i}")) for i in range(5)]
    untitled = memory_create(space=space, data=mif_memory(content="Sourdough needs a long, slow rise."))
    current = dict(Memory.objects.values_list("pk", "search"))
    migration = _migration()
    with connection.cursor() as cursor:  # the documents as memory_create used to build them
        cursor.execute(f"UPDATE memory_memory SET search = {migration.document_sql(titled=False)}")
    client = client_for(user)

    def full_text_hits():  # the typo text reads the title from the row: typo hits meanwhile
        return [title for title, score in found(client, "Naming conventions") if score > 0.5]

    assert full_text_hits() == []
    monkeypatch.setattr(migration, "BATCH_SIZE", 2)  # several batches
    migration.add_titles(None, connection.schema_editor())
    assert dict(Memory.objects.values_list("pk", "search")) == current
    assert full_text_hits() == ["Naming conventions"] * len(memories)
    migration.remove_titles(None, connection.schema_editor())  # reversible
    assert full_text_hits() == []
    assert Memory.objects.get(pk=untitled.pk).search == current[untitled.pk]


@pytest.mark.parametrize("title", [{"x": "objecttitle"}, 42, "   "])
def test_a_title_that_is_not_text_or_is_blank_shows_the_contents_first_line(user, client_for, title):
    client = client_for(user)
    body = import_document(client, mif_document([titled(metadata={"title": title})])).json()
    assert (body["memories_imported"], body["errors"]) == (1, [])
    assert [title for title, _ in found(client, "snake_case camelCase")] == [CONTENT]
