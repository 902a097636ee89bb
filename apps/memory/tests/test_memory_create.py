import uuid

import pytest

from apps.memory.models import Memory
from apps.memory.services import DuplicateMemory, content_sha256, memory_create
from apps.scopes.services import space_ensure_personal
from synchronex.api import errors

pytestmark = pytest.mark.django_db


def mif_memory(**overrides) -> dict:
    data = {
        "id": str(uuid.uuid4()),
        "content": "Prefers PostgreSQL over MySQL for new services.",
        "created_at": "2026-03-01T10:00:00Z",
    }
    data.update(overrides)
    return data


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def test_create_keeps_every_field_and_the_original_json(space):
    data = mif_memory(
        memory_type="learning",
        updated_at="2026-03-02T11:00:00+02:00",
        tags=["db", "infra"],
        entities=[{"name": "PostgreSQL", "entity_type": "technology", "confidence": 0.9}],
        metadata={"importance": "high", "nested": {"a": [1, 2]}},
        source={"source_type": "conversation", "session_id": "s-1", "agent_name": "claude"},
        parent_id=str(uuid.uuid4()),
        related_memory_ids=[str(uuid.uuid4()), "legacy-42"],
        agent_id="agent-7",
        external_id=12345,
        version=3,
        embeddings={"model": "m-1", "dimensions": 3, "vector": [0.1, 0.2, 0.3], "normalized": False},
        x_unknown={"kept": True},
        vendor_extensions={"othervendor": {"score": 0.5}},
    )
    memory = memory_create(space=space, data=data)
    memory = Memory.objects.get(pk=memory.pk)
    assert str(memory.memory_id) == data["id"]
    assert memory.content == data["content"]
    assert memory.content_sha256 == content_sha256(data["content"])
    assert memory.memory_type == "learning"
    assert memory.tags == ["db", "infra"]
    assert memory.entities == data["entities"]
    assert memory.metadata == data["metadata"]
    assert memory.source == data["source"]
    assert memory.parent_id == data["parent_id"]
    assert memory.related_memory_ids == data["related_memory_ids"]
    assert memory.agent_id == "agent-7"
    assert memory.external_id == "12345"
    assert memory.version == 3
    assert memory.created_at.isoformat() == "2026-03-01T10:00:00+00:00"
    assert memory.updated_at.isoformat() == "2026-03-02T09:00:00+00:00"
    assert memory.stored_at is not None
    assert memory.raw == data  # unknown fields and vendor extensions untouched
    assert list(memory.embedding) == pytest.approx([0.1, 0.2, 0.3])
    assert (memory.embedding_model, memory.embedding_dimensions) == ("m-1", 3)
    assert memory.search  # the weighted document was computed


def test_content_is_kept_verbatim_not_trimmed(space):
    memory = memory_create(space=space, data=mif_memory(content="  spaced out  \n"))
    assert Memory.objects.get(pk=memory.pk).content == "  spaced out  \n"


def test_same_id_in_the_same_space_is_a_duplicate(space):
    first = memory_create(space=space, data=mif_memory())
    with pytest.raises(DuplicateMemory) as caught:
        memory_create(space=space, data=mif_memory(id=str(first.memory_id), content="different text"))
    assert caught.value.by == "id"
    assert caught.value.existing.pk == first.pk
    assert caught.value.code == "CONFLICT"


def test_same_content_under_another_id_is_a_duplicate(space):
    first = memory_create(space=space, data=mif_memory())
    with pytest.raises(DuplicateMemory) as caught:
        memory_create(space=space, data=mif_memory())
    assert caught.value.by == "content_sha256"
    assert caught.value.existing.pk == first.pk
    assert Memory.objects.filter(space=space).count() == 1


def test_the_same_memory_can_live_in_two_spaces_with_its_original_id(space, make_user):
    other = space_ensure_personal(user=make_user())
    data = mif_memory()
    a = memory_create(space=space, data=data)
    b = memory_create(space=other, data=data)
    assert a.memory_id == b.memory_id and a.pk != b.pk


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": None}, "id"),
        ({"id": "not-a-uuid"}, "id"),
        ({"id": 7}, "id"),
        ({"content": ""}, "content"),
        ({"content": "   "}, "content"),
        ({"content": 5}, "content"),
        ({"content": "x" * 100_001}, "content"),
        ({"created_at": None}, "created_at"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"updated_at": 5}, "updated_at"),
        ({"memory_type": "t" * 101}, "memory_type"),
        ({"tags": "a,b"}, "tags"),
        ({"tags": [1]}, "tags"),
        ({"tags": ["t"] * 101}, "tags"),
        ({"entities": {"name": "x"}}, "entities"),
        ({"metadata": ["x"]}, "metadata"),
        ({"source": "chat"}, "source"),
        ({"parent_id": {"id": 1}}, "parent_id"),
        ({"parent_id": "p" * 256}, "parent_id"),
        ({"related_memory_ids": "abc"}, "related_memory_ids"),
        ({"version": -1}, "version"),
        ({"version": "2"}, "version"),
        ({"embeddings": [0.1]}, "embeddings"),
        ({"embeddings": {"vector": [0.1]}}, "embeddings.model"),
        ({"embeddings": {"model": "m", "vector": ["a"]}}, "embeddings.vector"),
        ({"embeddings": {"model": "m", "vector": [0.1], "dimensions": 2}}, "embeddings.dimensions"),
        ({"content": "nul \x00 inside"}, "memory"),
        ({"metadata": {"k": "nul \x00"}}, "memory"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_written(space, change, field):
    with pytest.raises(errors.ValidationFailed) as caught:
        memory_create(space=space, data=mif_memory(**change))
    assert field in caught.value.details["fields"]
    assert not Memory.objects.exists()


def test_a_memory_that_is_not_an_object_is_rejected(space):
    with pytest.raises(errors.ValidationFailed):
        memory_create(space=space, data=["content"])


def test_a_time_without_offset_is_read_as_utc(space):
    memory = memory_create(space=space, data=mif_memory(created_at="2026-03-01T10:00:00"))
    assert Memory.objects.get(pk=memory.pk).created_at.isoformat() == "2026-03-01T10:00:00+00:00"
