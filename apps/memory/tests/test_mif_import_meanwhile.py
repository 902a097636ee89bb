"""Imports that meet other writers of the same rows (SPEC §8: the vendor extension restores
product states and the kernel exactly; re-importing the same document changes nothing, deduped
by id).

- A product state imported while another request creates the same product: a decision naming a
  missing product creates it bare, and an import finding a bare product fills it with the
  record's state. When the decision's product appears between the import's look-up and its
  insert, the outcome is the one of it appearing before: the record's state is restored, not
  counted as a duplicate and dropped.
- The same document imported again (a client's retry, or two imports at once) after the kernel
  it restored changed (consolidation refreshes the kernel's products): the kernel record is the
  kernel's own, a duplicate by its id, not a "different kernel in place" error.
"""

from __future__ import annotations

import uuid

import pytest

from apps.identity.models import Kernel
from apps.memory.mif import restore
from apps.memory.tests.mif_support import export_json, import_document, mif_document
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

pytestmark = pytest.mark.django_db(transaction=True)

STATE = "/api/v1/memory/product/Gamma/state"


def _product_record() -> dict:
    data = {
        "id": str(uuid.uuid4()),
        "name": "Gamma",
        "status": "blocked",
        "what_works": ["imported item"],
        "what_is_blocked": ["imported blocker"],
        "next_session_starts_here": "imported handoff",
    }
    synchronex = {"kind": "product_state", "data": data}
    return {"id": data["id"], "content": "Gamma state", "vendor_extensions": {"synchronex": synchronex}}


def test_a_product_a_decision_creates_while_the_import_stores_it_is_filled_not_skipped(write_api, monkeypatch):
    find = restore.product_find
    decided = []

    def decision_lands_meanwhile(*, space, name):
        found = find(space=space, name=name)
        if not decided:
            # Another client records a decision on the product after the import looked for it
            # and found none, before the import inserts it: the decision creates it, bare.
            decided.append(
                write_api.as_token(write_api.token).post(
                    "/api/v1/memory/decisions", json={"decision": "Ship Gamma", "product_name": "gamma"}
                )
            )
        return found

    monkeypatch.setattr(restore, "product_find", decision_lands_meanwhile)
    response = import_document(write_api, mif_document([_product_record()]))
    monkeypatch.undo()

    assert decided[0].status_code == 201, decided[0].text
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["products_imported"], report["duplicates_skipped"], report["errors"]) == (1, 0, []), report
    state = write_api.get(STATE).json()
    assert state["status"] == "blocked" and state["what_works"] == ["imported item"], state
    assert state["next_session_starts_here"] == "imported handoff"
    assert [d["decision"] for d in state["recent_decisions"]] == ["Ship Gamma"]
    assert ProductState.objects.filter(name__iexact="gamma").count() == 1


def test_the_same_document_imported_again_after_consolidation_changed_its_kernel_is_a_duplicate(
    user, make_user, client_for, broker_on_test_database
):
    source = client_for(user)
    assert source.put("/api/v1/memory/identity", json={"identity": {"name": "Ada"}}).status_code == 200
    decided = source.post("/api/v1/memory/decisions", json={"decision": "Ship Atlas", "product_name": "Atlas"})
    assert decided.status_code == 201, decided.text
    document = export_json(client_for(user, "read"))

    target = make_user(tier="pro")
    client = client_for(target)
    first = import_document(client, document).json()
    assert (first["kernel_imported"], first["errors"]) == (True, []), first
    space = space_ensure_personal(user=target)
    consolidate(space)  # puts Atlas, the space's active product, into the kernel
    kernel = Kernel.objects.get(space=space)
    assert [p["name"] for p in kernel.products] == ["Atlas"]

    again = import_document(client, document).json()
    assert (again["kernel_imported"], again["errors"], again["errors_total"]) == (False, [], 0), again
    assert again["duplicates_skipped"] == first["decisions_imported"] + first["products_imported"] + 1, again
    kernel.refresh_from_db()
    assert [p["name"] for p in kernel.products] == ["Atlas"]  # left as it was


def test_a_kernel_restored_then_cleared_is_restored_again_by_the_same_document(user, make_user, client_for):
    source = client_for(user)
    assert source.put("/api/v1/memory/identity", json={"identity": {"name": "Ada"}}).status_code == 200
    document = export_json(client_for(user, "read"))
    client = client_for(make_user(tier="pro"))
    assert import_document(client, document).json()["kernel_imported"] is True
    assert client.put("/api/v1/memory/identity", json={"identity": None}).status_code == 200

    again = import_document(client, document).json()
    assert (again["kernel_imported"], again["errors"]) == (True, []), again
    assert client.get("/api/v1/memory/identity").json()["identity"]["name"] == "Ada"
