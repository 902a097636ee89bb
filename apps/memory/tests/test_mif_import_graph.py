"""Graph data in imported documents: mem0 ``relations`` and MIF ``knowledge_graph`` become
memories, and what an import cannot keep is named in ``not_imported`` (SPEC §8)."""

import pytest

from apps.memory.models import Memory
from apps.memory.tests.mif_support import by_id, export_json, import_document, mif_document, mif_memory
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

MEM0_GRAPH = {
    "results": [
        {"id": "7b0c3f2e-1a4d-4e5f-8a9b-0c1d2e3f4a5b", "memory": "Works at Acme", "user_id": "alice"},
        {"id": "mem-2", "memory": "Lives in Paris", "user_id": "alice"},
    ],
    "relations": [
        {"source": "alice", "relationship": "works_at", "target": "acme"},
        {
            "source": "alice",
            "source_type": "person",
            "relationship": "lives_in",
            "destination": "paris",  # mem0's search answers name the target so
            "target_type": "city",
            "score": 0.92,
        },
        {"source": "alice", "relationship": " ", "target": "acme"},
    ],
}

GRAPH = {
    "entities": [
        {"id": "e1", "name": "Alice", "types": ["person"]},
        {"id": "e2", "name": "Acme", "types": ["organization"], "summary": "Maker of anvils"},
        {"id": "e3", "name": "Paris"},
        {"id": "e4"},
    ],
    "relationships": [
        {
            "id": "r1",
            "source_entity_id": "e1",
            "target_entity_id": "e2",
            "relation_type": "works_at",
            "confidence": 0.9,
            "created_at": "2024-01-02T03:04:05Z",
        },
        {"id": "r2", "source_entity_id": "e1", "target_entity_id": "e3"},
    ],
    "communities": [{"id": "c1", "members": ["e1", "e2"]}],
}


def memories(user) -> dict:
    return {m.content: m for m in Memory.objects.filter(space=space_ensure_personal(user=user))}


def test_mem0_relations_become_relation_memories(user, client_for):
    client = client_for(user)
    report = import_document(client, MEM0_GRAPH).json()
    assert (report["format"], report["memories_imported"], report["not_imported"]) == ("mem0", 4, [])
    # Relations are numbered after the results: relations[2] is item 4.
    assert [(e["index"], e["id"]) for e in report["errors"]] == [(4, None)]
    assert report["errors"][0]["message"].startswith("relations[2]: ")

    stored = memories(user)
    works = stored["alice works at acme"]
    assert (works.memory_type, [e["name"] for e in works.entities]) == ("relation", ["alice", "acme"])
    assert works.raw["source"]["source_type"] == "mem0"
    assert works.raw["vendor_extensions"] == {"mem0": MEM0_GRAPH["relations"][0]}
    lives = stored["alice lives in paris"]
    assert [(e["name"], e["entity_type"]) for e in lives.entities] == [("alice", "person"), ("paris", "city")]
    assert client.get("/api/v1/memory/search", params={"q": "acme", "types": "memory"}).json()["results"]

    again = import_document(client, MEM0_GRAPH).json()
    assert (again["memories_imported"], again["duplicates_skipped"]) == (0, 4)


def test_mif_knowledge_graph_becomes_memories_and_other_parts_are_named(user, client_for):
    client = client_for(user)
    document = mif_document(
        [mif_memory(content="Alice joined Acme in 2024")],
        generator={"name": "graph-tool", "version": "1"},
        knowledge_graph=GRAPH,
        vendor_extensions={"othertool": {"workspace": "w-1"}},
        extra_top_level={"kept": False},
    )
    report = import_document(client, document).json()
    # One memory, three usable entities, one usable relationship.
    assert (report["format"], report["memories_imported"]) == ("mif", 5)
    # Graph items are numbered after the memories: entities, then relationships.
    assert [(e["index"], e["id"]) for e in report["errors"]] == [(4, "e4"), (6, "r2")]
    assert report["errors"][0]["message"].startswith("knowledge_graph.entities[3]: ")
    assert report["errors"][1]["message"].startswith("knowledge_graph.relationships[1]: ")
    assert report["not_imported"] == ["knowledge_graph.communities", "vendor_extensions.othertool", "extra_top_level"]

    stored = memories(user)
    works = stored["Alice works at Acme"]
    assert works.memory_type == "relation"
    assert [(e["name"], e["entity_type"]) for e in works.entities] == [("Alice", "person"), ("Acme", "organization")]
    assert works.raw["created_at"] == "2024-01-02T03:04:05Z"
    assert works.raw["source"] == {"source_type": "knowledge_graph", "agent": "graph-tool", "agent_name": "graph-tool"}
    assert works.raw["vendor_extensions"] == {"mif-knowledge-graph": {"relationship": GRAPH["relationships"][0]}}
    assert stored["Acme: Maker of anvils"].memory_type == "observation"
    assert stored["Alice (person)"].memory_type == "context"
    assert stored["Paris"].raw["vendor_extensions"] == {"mif-knowledge-graph": {"entity": GRAPH["entities"][2]}}

    # The export gives the graph back as these memories, each with its original record.
    exported = by_id(export_json(client))
    assert exported[str(works.memory_id)]["content"] == "Alice works at Acme"
    assert exported[str(works.memory_id)]["vendor_extensions"]["mif-knowledge-graph"] == {
        "relationship": GRAPH["relationships"][0]
    }
    again = import_document(client, document).json()
    assert (again["memories_imported"], again["duplicates_skipped"]) == (0, 5)


def test_a_document_read_in_full_names_nothing_as_not_imported(user, client_for):
    document = mif_document(
        [mif_memory()],
        generator={"name": "another-tool"},
        export_meta={"id": "exp-1"},
        knowledge_graph={"entities": [], "relationships": []},
        vendor_extensions={"synchronex": {"format": 1}},
    )
    report = import_document(client_for(user), document).json()
    assert (report["memories_imported"], report["errors"], report["not_imported"]) == (1, [], [])


def test_graph_parts_of_the_wrong_shape_are_named_not_imported(user, client_for):
    document = mif_document(
        [mif_memory()], knowledge_graph={"entities": {"e1": "Alice"}, "relationships": "none"}, vendor_extensions=[1]
    )
    report = import_document(client_for(user), document).json()
    assert (report["memories_imported"], report["errors"]) == (1, [])
    assert report["not_imported"] == ["knowledge_graph.entities", "knowledge_graph.relationships", "vendor_extensions"]
    mem0 = {"results": MEM0_GRAPH["results"][:1], "relations": {"alice": "acme"}, "entities": [{"name": "alice"}]}
    report = import_document(client_for(user), mem0).json()
    assert (report["memories_imported"], report["not_imported"]) == (1, ["relations", "entities"])


def test_graph_items_postgresql_cannot_hold_are_bad_items_only(user, client_for):
    graph = {
        "entities": [{"id": "e1", "name": "Al\ud800ice"}, {"id": "e2", "name": "Acme"}],
        "relationships": [{"id": "r1", "source_entity_id": "e1", "target_entity_id": "e2", "relation_type": "owns"}],
    }
    mem0 = {"results": [], "relations": [{"source": "alice\u0000", "relationship": "owns", "target": "acme"}]}
    client = client_for(user)
    report = import_document(client, mif_document([], knowledge_graph=graph)).json()
    # The entity is a bad item; the relationship names that end by its id.
    assert [(e["index"], e["id"]) for e in report["errors"]] == [(0, "e1")]
    assert report["memories_imported"] == 2 and "e1 owns Acme" in memories(user)
    report = import_document(client, mem0).json()
    assert (report["memories_imported"], [e["index"] for e in report["errors"]]) == (0, [0])
