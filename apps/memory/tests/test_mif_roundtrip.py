"""Export → import → export: the round trip keeps every memory (SPEC §8)."""

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import rfc8785
from django.db.models import Q

from apps.decisions.models import Decision
from apps.identity.models import Kernel
from apps.memory.mif.common import VENDOR
from apps.memory.models import Memory
from apps.memory.tests.mif_support import (
    EXPORT,
    FOREIGN,
    FOREIGN_ID,
    export_json,
    import_document,
    mif_document,
    mif_memory,
    seed_space,
    without_export_metadata,
)
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)
MIF_CLI = Path(sys.executable).parent / "mif"


def test_restore_into_a_new_account_gives_the_same_export(make_user, client_for):
    """The backup case: the old account is gone, the export restores into a new one exactly."""
    old_user = make_user(tier="pro")
    seed_space(old_user)
    exported = export_json(client_for(old_user, "read"))
    old_user.delete()

    new_user = make_user(tier="pro")
    client = client_for(new_user)
    response = import_document(client, exported)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "memories_imported": 2,
        "decisions_imported": 3,
        "products_imported": 3,
        "kernel_imported": True,
        "duplicates_skipped": 0,
        "errors": [],
        "errors_total": 0,
        "warnings": [],
        "not_imported": [],
        "dry_run": False,
        "format": "mif",
        "scope": "personal",
    }
    again = export_json(client)
    assert without_export_metadata(again) == without_export_metadata(exported)
    assert again["export_meta"]["checksum"] == exported["export_meta"]["checksum"]


@pytest.mark.parametrize("largest", [3.4028234663852886e38, 3.4028235e38], ids=["exact", "as numpy writes it"])
def test_a_vector_at_the_largest_32_bit_float_survives_the_round_trip(make_user, client_for, largest):
    """The export writes the largest 32-bit float as pgvector does (3.4028235e38, a double a little
    above it): the import takes it back, as it takes a vector file numpy wrote."""
    memory = mif_memory(content="A vector at the float32 edge", embeddings={"model": "m", "vector": [largest, 1]})
    old_client = client_for(make_user(tier="pro"))
    report = import_document(old_client, mif_document([memory])).json()
    assert (report["memories_imported"], report["errors"]) == (1, []), report
    exported = export_json(old_client, include_embeddings="true")
    assert exported["memories"][0]["embeddings"]["vector"] == [3.4028235e38, 1]

    client = client_for(make_user(tier="pro"))
    report = import_document(client, exported).json()
    assert (report["memories_imported"], report["errors"]) == (1, []), report
    assert export_json(client, include_embeddings="true")["memories"] == exported["memories"]


def test_decisions_at_the_date_floor_survive_the_round_trip(make_user, client_for):
    """Whatever the API stores, import accepts: the 1900 floor is one UTC instant on both paths."""
    old_client = client_for(make_user(tier="pro"))
    moments = ["1900-01-01T00:00:00Z", "1899-12-31T12:00:00-12:00", "1899-12-31T13:00:00-12:00"]
    for i, moment in enumerate(moments):
        body = {"decision": f"Floor decision {i}", "product_name": "P", "decided_at": moment}
        assert old_client.post("/api/v1/memory/decisions", json=body).status_code == 201
    # 1899-12-31T10:00:00Z in UTC: refused, so no export can hold what import would refuse.
    body = {"decision": "Too early", "product_name": "P", "decided_at": "1900-01-01T00:00:00+14:00"}
    assert old_client.post("/api/v1/memory/decisions", json=body).status_code == 400
    exported = export_json(old_client)

    client = client_for(make_user(tier="pro"))
    report = import_document(client, exported).json()
    assert report["errors"] == [] and report["decisions_imported"] == 3, report
    again = export_json(client)
    assert without_export_metadata(again) == without_export_metadata(exported)
    decided = sorted(m["metadata"]["decided_at"] for m in again["memories"] if m["memory_type"] == "decision")
    assert decided == ["1900-01-01T00:00:00Z", "1900-01-01T00:00:00Z", "1900-01-01T01:00:00Z"]


def test_vectors_of_decisions_and_memories_survive_the_round_trip(make_user, client_for):
    """With include_embeddings=true the round trip keeps every vector with its model and size."""
    old_user = make_user(tier="pro")
    data = seed_space(old_user)
    vector = {"embedding": [0.6, 0.8], "embedding_model": "m-1", "embedding_dimensions": 2}
    Decision.objects.filter(space=data["space"]).update(**vector)
    Memory.objects.filter(space=data["space"]).update(**vector)
    exported = export_json(client_for(old_user, "read"), include_embeddings="true")
    assert sum("embeddings" in memory for memory in exported["memories"]) == 5
    old_user.delete()

    new_user = make_user(tier="pro")
    client = client_for(new_user)
    report = import_document(client, exported).json()
    assert report["errors"] == [] and report["decisions_imported"] == 3, report
    again = export_json(client, include_embeddings="true")
    assert without_export_metadata(again) == without_export_metadata(exported)
    restored = Decision.objects.filter(space__owner=new_user)
    assert {(d.embedding_model, d.embedding_dimensions) for d in restored} == {("m-1", 2)}


def _kinds(document: dict) -> dict:
    return {m["id"]: m["vendor_extensions"][VENDOR]["kind"] for m in document["memories"]}


def test_import_next_to_the_source_space_gives_the_same_export(user, make_user, client_for):
    """The usual case: the source space still holds the ids (global keys), so the imported rows
    get new ids and remember the originals; the export names every memory and reference with
    the original ids, exactly as the source's export did."""
    data = seed_space(user)
    exported = export_json(client_for(user, "read"))
    other = make_user(tier="pro")
    client = client_for(other)
    body = import_document(client, exported).json()
    assert (body["decisions_imported"], body["products_imported"], body["kernel_imported"]) == (3, 3, True)
    assert (body["memories_imported"], body["errors"]) == (2, [])

    again = export_json(client)
    assert without_export_metadata(again) == without_export_metadata(exported)
    assert again["export_meta"]["checksum"] == exported["export_meta"]["checksum"]

    space = space_ensure_personal(user=other)
    old, new = data["decisions"]
    restored_old = Decision.objects.get(space=space, origin_id=old.id)
    restored_new = Decision.objects.get(space=space, origin_id=new.id)
    assert restored_old.id != old.id and restored_new.supersedes_id == restored_old.id
    assert Decision.objects.filter(space=space, origin_id__isnull=True).count() == 0
    assert ProductState.objects.get(space=space, name="Atlas").origin_id == data["product"].id
    kernel = Kernel.objects.get(space=space)
    assert kernel.origin_id == Kernel.objects.get(space=data["space"]).id and kernel.version == 1
    # The source space is untouched and exports as before.
    assert without_export_metadata(export_json(client_for(user, "read"))) == without_export_metadata(exported)


def test_reimport_next_to_the_source_space_adds_nothing(user, make_user, client_for):
    seed_space(user)
    exported = export_json(client_for(user, "read"))
    other = make_user(tier="pro")
    client = client_for(other)
    import_document(client, exported)
    space = space_ensure_personal(user=other)
    counts = (Decision.objects.count(), ProductState.objects.count(), Kernel.objects.count(), Memory.objects.count())
    body = import_document(client, exported).json()
    assert (body["decisions_imported"], body["products_imported"], body["kernel_imported"]) == (0, 0, False)
    assert (body["memories_imported"], body["duplicates_skipped"], body["errors"]) == (0, 9, [])
    assert (Decision.objects.count(), ProductState.objects.count(), Kernel.objects.count(), Memory.objects.count()) == (
        counts
    )
    assert Decision.objects.filter(space=space).count() == 3
    assert without_export_metadata(export_json(client)) == without_export_metadata(exported)


def test_the_same_document_imports_into_several_spaces_each_exporting_the_original_ids(user, make_user, client_for):
    seed_space(user)
    exported = export_json(client_for(user, "read"))
    first, owner = make_user(tier="pro"), make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    in_workspace = {"X-Synchronex-Scope": str(workspace.id)}
    targets = [(client_for(first), {}), (client_for(owner), in_workspace), (client_for(owner), {})]
    for client, headers in targets:
        body = import_document(client, exported, headers=headers).json()
        assert (body["decisions_imported"], body["products_imported"], body["errors"]) == (3, 3, [])
        again = client.get(EXPORT, headers=headers).json()
        assert again["memories"] == exported["memories"]
    for kind, model in (("decision", Decision), ("product_state", ProductState), ("identity_kernel", Kernel)):
        originals = [uuid.UUID(i) for i, k in _kinds(exported).items() if k == kind]
        # One row per original id in each of the four spaces, under four different ids.
        assert model.objects.filter(Q(pk__in=originals) | Q(origin_id__in=originals)).count() == 4 * len(originals)


def test_original_ids_name_imported_decisions_and_products_in_the_importing_space_only(user, make_user, client_for):
    data = seed_space(user)
    exported = export_json(client_for(user, "read"))
    importer, stranger = make_user(tier="pro"), make_user(tier="pro")
    client = client_for(importer)
    import_document(client, exported)
    space = space_ensure_personal(user=importer)
    old, new = (str(d.id) for d in data["decisions"])
    gamma = next(m["id"] for m in exported["memories"] if m["content"].startswith("Ship the Gamma"))
    row_id = str(Decision.objects.get(space=space, origin_id=gamma).id)

    # Read by the original id: the importing space's row, shown with its own id.
    shown = client.get(f"/api/v1/memory/decisions/{gamma}").json()
    assert shown["id"] == row_id and shown["decision"] == "Ship the Gamma beta in June"
    # Supersede by the original id.
    created = client.post(
        "/api/v1/memory/decisions", json={"decision": "Use SQLite", "product_name": "Atlas", "supersedes": new}
    )
    assert created.status_code == 201, created.text
    assert created.json()["supersedes"] == str(Decision.objects.get(space=space, origin_id=new).id)
    # Ingest into a product named by its original id.
    atlas = str(data["product"].id)
    ingested = client.post(f"/api/v1/ingest/{atlas}", json={"type": "note", "body": "hello"})
    assert ingested.status_code in (200, 201, 202), ingested.text
    assert ingested.json()["product"]["id"] == str(ProductState.objects.get(space=space, origin_id=atlas).id)

    # Elsewhere those ids name nothing (the source space's rows are its own, not the importer's).
    for foreign in (client_for(stranger), client_for(make_user(tier="pro"))):
        response = foreign.delete(f"/api/v1/memory/decisions/{gamma}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
        assert foreign.post(f"/api/v1/ingest/{atlas}", json={"type": "note", "body": "x"}).status_code == 404

    # Delete by the original id: the importing space's row goes, the source's stays.
    assert client.delete(f"/api/v1/memory/decisions/{gamma}").status_code == 204
    assert not Decision.objects.filter(pk=row_id).exists()
    assert Decision.objects.filter(pk=gamma, space=data["space"]).exists()
    again = client.delete(f"/api/v1/memory/decisions/{gamma}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "NOT_FOUND"
    assert client.delete(f"/api/v1/memory/decisions/{old}").status_code == 204
    assert Decision.objects.filter(pk=old).exists()  # the source's own decision


def test_generic_memory_is_stored_again_exactly_as_first_imported(user, make_user, client_for):
    seed_space(user)
    exported = export_json(client_for(user, "read"))
    other = make_user()
    assert import_document(client_for(other), exported).status_code == 200
    stored = Memory.objects.get(space=space_ensure_personal(user=other), memory_id=uuid.UUID(FOREIGN_ID))
    assert stored.raw == FOREIGN


def test_export_is_compatible_with_strict_readers(user, client_for):
    seed_space(user)
    document = export_json(client_for(user, "read"))
    assert document["mif_version"] == "2.0"
    assert document["generator"]["name"] == "synchronex" and document["generator"]["version"]
    meta = document["export_meta"]
    assert set(meta) >= {"id", "created_at", "user_id", "checksum", "privacy"}
    assert str(uuid.UUID(meta["id"])) == meta["id"]
    assert meta["user_id"] == str(user.id)
    assert meta["created_at"].endswith("Z")
    assert meta["privacy"] == {"pii_detected": False, "redacted_fields": []}
    assert meta["checksum"] == "sha256:" + hashlib.sha256(rfc8785.dumps(document["memories"])).hexdigest()
    for memory in document["memories"]:
        assert str(uuid.UUID(memory["id"])) == memory["id"]
        assert memory["memory_type"]
        assert memory["created_at"].endswith("Z")
        assert all(isinstance(value, str) for value in memory.get("metadata", {}).values())
        assert memory["source"]["agent"] and memory["source"]["agent_name"]
        assert all(str(uuid.UUID(ref)) == ref for ref in memory.get("related_memory_ids", []))
        assert "embeddings" not in memory
    kinds = [m["vendor_extensions"][VENDOR]["kind"] for m in document["memories"]]
    assert kinds == ["identity_kernel"] + ["product_state"] * 3 + ["decision"] * 3 + ["memory"] * 2


def test_export_passes_the_mif_tools_validator(user, client_for, tmp_path):
    seed_space(user)
    path = tmp_path / "export.mif.json"
    path.write_bytes(client_for(user, "read").get("/api/v1/memory/export-mif").content)
    result = subprocess.run([str(MIF_CLI), "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # PASS, not WARN: the semantic (deep) checks found nothing either.
    assert f"PASS {path}" in result.stdout, result.stdout
    from mif.registry import validate, validate_deep

    text = path.read_text()
    assert validate(text) == (True, [])
    assert validate_deep(text) == (True, [])
