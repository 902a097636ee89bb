"""An export imported in parts (``types=``, ``since=``, a file split by hand), then the rest: the
product states a part's decisions named come back whole (SPEC §8, lossless round trip)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.memory.mif.common import iso_z
from apps.memory.tests.mif_support import (
    as_filled,
    export_json,
    import_document,
    seed_space,
    without_export_metadata,
)
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)


def _import(client, document) -> dict:
    response = import_document(client, document)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["errors"] == [], report
    return report


def test_a_full_import_after_a_decisions_only_import_restores_every_product_state(user, make_user, client_for):
    seed_space(user)
    source = client_for(user, "read")
    decisions, full = export_json(source, types="decision"), export_json(source)
    target = make_user(tier="pro")
    client = client_for(target)
    first = _import(client, decisions)
    assert (first["decisions_imported"], first["products_imported"]) == (3, 0)
    space = space_ensure_personal(user=target)
    made = {p.name: p.pk for p in ProductState.objects.filter(space=space)}
    assert set(made) == {"Atlas", "Gamma"}  # bare products, named by the decisions

    second = _import(client, full)
    assert (second["products_imported"], second["kernel_imported"], second["memories_imported"]) == (3, True, 2)
    assert (second["decisions_imported"], second["duplicates_skipped"]) == (0, 3)
    # Atlas, filled with a state of its own, is at a new version; Gamma, filled with the bare
    # state it had, keeps the record's.
    assert without_export_metadata(export_json(client)) == without_export_metadata(as_filled(full, "Atlas"))
    # Filled in place: the products the decisions point at keep their ids.
    after = {p.name: p.pk for p in ProductState.objects.filter(space=space)}
    assert after == {**made, "Beta": after["Beta"]}
    atlas = client.get("/api/v1/memory/product/Atlas/state").json()
    assert (atlas["status"], atlas["what_works"], atlas["next_session_starts_here"]) == (
        "blocked",
        ["Login", "Billing"],
        "Finish the migration plan.",
    )


def test_a_full_import_after_a_since_import_restores_the_older_product_states(user, make_user, client_for):
    data = seed_space(user)
    earlier = timezone.now() - timedelta(days=30)
    # The product states were last written before ``since``; the decisions were made after it.
    for n, product in enumerate(ProductState.objects.filter(space=data["space"]).order_by("created_at")):
        moment = earlier + timedelta(seconds=n)  # distinct: the export orders by it
        ProductState.objects.filter(pk=product.pk).update(updated_at=moment, created_at=moment, stored_at=moment)
    source = client_for(user, "read")
    recent = export_json(source, since=iso_z(earlier + timedelta(days=1)))
    assert {m["memory_type"] for m in recent["memories"]} >= {"decision"}
    assert not [m for m in recent["memories"] if "product-state" in m.get("tags", [])]
    full = export_json(source)

    client = client_for(make_user(tier="pro"))
    _import(client, recent)
    report = _import(client, full)
    assert report["products_imported"] == 3, report
    assert without_export_metadata(export_json(client)) == without_export_metadata(as_filled(full, "Atlas"))


def test_an_export_split_by_type_or_by_hand_imports_part_by_part(user, make_user, client_for):
    """The way around the body limit for a large scope (README): parts imported one by one."""
    seed_space(user)
    source = client_for(user, "read")
    full = export_json(source)
    by_type = [export_json(source, types=kinds) for kinds in ("memory", "decision", "identity,product")]
    by_hand = [{"mif_version": "2.0", "memories": full["memories"][i : i + 2]} for i in range(0, 9, 2)][::-1]
    for parts in (by_type, by_hand):
        client = client_for(make_user(tier="pro"))
        for part in parts:
            _import(client, part)
        assert without_export_metadata(export_json(client)) == without_export_metadata(as_filled(full, "Atlas"))


def test_a_product_with_a_state_of_its_own_is_a_duplicate_and_keeps_it(user, make_user, client_for):
    seed_space(user)
    full = export_json(client_for(user, "read"))
    client = client_for(make_user(tier="pro"))
    # Atlas: written by its user. Beta: named by a decision, then written with its defaults
    # changed. Gamma: only named by a decision (no state of its own).
    written = client.post("/api/v1/memory/product/Atlas/state", json={"what_works": ["Mine"]})
    assert written.status_code in (200, 201), written.text
    for name in ("Beta", "Gamma"):
        body = {"decision": f"Plan {name}", "product_name": name}
        assert client.post("/api/v1/memory/decisions", json=body).status_code == 201
    written = client.post("/api/v1/memory/product/Beta/state", json={"status": "paused"})
    assert written.status_code == 200, written.text

    report = _import(client, full)
    assert (report["products_imported"], report["duplicates_skipped"]) == (1, 2), report
    states = {p.name: p for p in ProductState.objects.exclude(space__owner=user)}
    assert (states["Atlas"].what_works, states["Atlas"].origin_id) == (["Mine"], None)
    assert (states["Beta"].status, states["Beta"].origin_id) == ("paused", None)
    gamma = next(m for m in full["memories"] if "product-state" in m["tags"] and m["metadata"]["product"] == "Gamma")
    assert str(states["Gamma"].origin_id) == gamma["id"]
