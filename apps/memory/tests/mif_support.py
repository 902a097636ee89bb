"""Helpers of the MIF tests: a space with every kind of row, and the HTTP calls."""

from __future__ import annotations

import copy
import json
import uuid

from apps.decisions.services import decision_create
from apps.identity.services import kernel_update
from apps.memory.services import memory_create
from apps.products.models import ProductState
from apps.products.services import product_state_write
from apps.scopes.services import space_ensure_personal

EXPORT = "/api/v1/memory/export-mif"
IMPORT = "/api/v1/memory/import-mif"

KERNEL = {
    "identity": {
        "name": "Ada Lovelace",
        "role": "Founder",
        "company": "Analytical Engines",
        "timezone": "Europe/London",
    },
    "products": [
        {"name": "Atlas", "status": "active", "summary": "Memory for AI tools", "url": "https://atlas.example"}
    ],
    "constraints": {"always": ["Write tests first"], "never": ["Deploy on Fridays"], "communication_style": "Terse"},
    "model_preferences": {"providers": ["anthropic"], "default_model": "claude", "routing": {"code": "claude-opus"}},
}

# A memory from another system: unknown fields, another vendor's extension, typed metadata, a
# source naming only agent_name, a non-canonical id, an offset timestamp, references that are
# not UUIDs, a numeric external id. The export must carry all of it back unchanged.
FOREIGN_ID = "6F9619FF-8B86-4D11-B42D-00C04FC964FF"
FOREIGN = {
    "id": FOREIGN_ID,
    "content": "Prefers PostgreSQL over MySQL for new services.",
    "created_at": "2026-03-01T10:00:00+02:00",
    "updated_at": "2026-03-02T11:00:00Z",
    "memory_type": "learning",
    "tags": ["db", "infra"],
    "entities": [{"name": "PostgreSQL", "entity_type": "technology", "confidence": 0.9}, {"bad": "entity"}],
    "metadata": {"importance": 0.8, "nested": {"a": [1, 2]}, "label": "kept"},
    "source": {"source_type": "conversation", "session_id": "s-1", "agent_name": "claude"},
    "related_memory_ids": ["legacy-42"],
    "parent_id": "not-a-uuid",
    "agent_id": "agent-7",
    "external_id": 12345,
    "version": 3,
    "x_unknown": {"kept": True},
    "vendor_extensions": {"othervendor": {"score": 0.5}},
}
PLAIN = {
    "id": "0b9e5d2c-7f44-4d3a-9b1e-3c1f0a6d2e10",
    "content": "Sourdough needs a long, slow rise.",
    "created_at": "2026-02-01T09:00:00Z",
}


def seed_space(user, *, foreign: dict | None = None) -> dict:
    """Kernel, two product states, a superseded decision and its successor, two generic memories."""
    space = space_ensure_personal(user=user)
    kernel_update(space=space, changes=KERNEL, actor="test")
    atlas, _ = product_state_write(
        space=space,
        name="Atlas",
        changes={
            "status": "blocked",
            "what_works": ["Login", "Billing"],
            "what_is_blocked": ["PostgreSQL upgrade"],
            "open_questions": ["Which region?"],
            "next_session_starts_here": "Finish the migration plan.",
        },
    )
    # The summary and URL of its kernel entry, as consolidation keeps them on the product state.
    entry = KERNEL["products"][0]
    ProductState.objects.filter(pk=atlas.pk).update(kernel_summary=entry["summary"], kernel_url=entry["url"])
    product_state_write(space=space, name="Beta", changes={"what_works": ["Mobile app"]})
    old = decision_create(
        space=space,
        decision="Use MySQL",
        product_name="Atlas",
        reasoning="The team knows it.",
        tags=["db"],
        affects_products=["Beta"],
        alternatives=["SQLite"],
    )
    new = decision_create(
        space=space,
        decision="Use PostgreSQL",
        product_name="Atlas",
        reasoning="Full-text search and pgvector in one engine.",
        tags=["db", "search"],
        supersedes=old.id,
    )
    decision_create(space=space, decision="Ship the Gamma beta in June", product_name="Gamma")
    memories = [memory_create(space=space, data=dict(foreign or FOREIGN)), memory_create(space=space, data=PLAIN)]
    return {"space": space, "product": atlas, "decisions": [old, new], "memories": memories}


def mif_memory(**overrides) -> dict:
    data = {"id": str(uuid.uuid4()), "content": f"Memory {uuid.uuid4().hex}", "created_at": "2026-03-01T10:00:00Z"}
    data.update(overrides)
    return data


def mif_document(memories: list, **extra) -> dict:
    return {"mif_version": "2.0", "memories": memories, **extra}


def export(client, **params):
    response = client.get(EXPORT, params=params)
    assert response.status_code == 200, response.text
    return response


def export_json(client, **params) -> dict:
    return export(client, **params).json()


def import_document(client, document, *, params=None, content_type="application/json", headers=None):
    body = document if isinstance(document, str | bytes) else json.dumps(document)
    return client.post(
        IMPORT, data=body, params=params or {}, headers={"Content-Type": content_type, **(headers or {})}
    )


def by_id(document: dict) -> dict:
    return {memory["id"]: memory for memory in document["memories"]}


def without_export_metadata(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "export_meta"}


def as_filled(document: dict, *names: str) -> dict:
    """``document`` as a scope exports it once a later part filled these products in place (an
    earlier part's decisions made them bare, at version 1): a record that gave them a state of
    their own at version 1 leaves them at version 2 (``restore.product_restore``: no If-Match read
    from the bare product may match the filled one)."""
    document = copy.deepcopy(document)
    for memory in document["memories"]:
        data = memory.get("vendor_extensions", {}).get("synchronex", {}).get("data", {})
        if "product-state" in memory.get("tags", []) and data["name"] in names:
            data["version"] = memory["version"] = max(data["version"], 2)
            memory["metadata"]["state_version"] = str(data["version"])
    return document
