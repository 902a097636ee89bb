"""A MIF export made by an earlier release, which stored product names as sent (NFC, trimmed of
whitespace), restores into today's (``mif.legacy_names``): its names are read as migration
products.0004 brought the stored ones under the rule, so every product, state, decision and the
kernel come back, each decision on its own product. Over real HTTP."""

from __future__ import annotations

import importlib
from urllib.parse import quote

import pytest

from apps.memory.mif.common import VENDOR
from apps.memory.tests.mif_support import export_json, import_document, mif_document, mif_memory
from apps.products.names import name_under_the_rule

pytestmark = pytest.mark.django_db(transaction=True)

# Each name as the earlier release stored it, and as products.0004 renamed it in place: "Acme\u200b"
# was a product of its own beside "Acme", and is its second.
RENAMED = {
    "Acme": "Acme",
    "Acme\u200b": "Acme (2)",
    "Right\u202eLeft": "RightLeft",
    "soft\u00adhyphen": "softhyphen",
    "\u200b\u200b": "Unnamed product",
}
NAMES = list(RENAMED)
AT = "2026-01-05T10:00:00Z"


def _record(kind: str, data: dict, content: str) -> dict:
    memory_type = "decision" if kind == "decision" else "context"
    vendor = {VENDOR: {"kind": kind, "data": data}}
    return mif_memory(id=data["id"], content=content, memory_type=memory_type, vendor_extensions=vendor)


def _old_export() -> dict:
    """What the earlier release exported: the kernel listing the products, a state of each, and a
    decision of each naming two others in ``affects_products`` (no ``kernel_summary``, ``kernel_url``
    or ``merged_into``: they came later)."""
    kernel = {
        "id": "3f0c7a52-5d2e-4a57-9a3c-8d1c6f0e2b10",
        "identity": {"name": "Ada Lovelace", "company": "Analytical Engines"},
        "products": [{"name": name, "status": "active", "summary": f"About {name}"} for name in NAMES[:4]],
        "constraints": {"always": [], "never": ["Deploy on Fridays"], "communication_style": "Terse"},
        "model_preferences": None,
        "version": 4,
        "created_at": AT,
        "updated_at": AT,
    }
    kernel["products"].append({"name": NAMES[4], "status": "paused"})
    memories = [_record("identity_kernel", kernel, "Ada Lovelace")]
    for i, name in enumerate(NAMES):
        state = {
            "id": f"00000000-0000-4000-8000-00000000000{i}",
            "name": name,
            "status": "active",
            "what_works": [f"State of product {i}"],
            "what_is_blocked": [],
            "open_questions": [],
            "next_session_starts_here": "",
            "last_session_summary": "",
            "version": 3,
            "created_at": f"2026-01-0{i + 1}T09:00:00Z",
            "updated_at": AT,
            "last_activity_at": AT,
        }
        memories.append(_record("product_state", state, f"Product {name}: active"))
    for i, name in enumerate(NAMES):
        decision = {
            "id": f"00000000-0000-4000-9000-00000000000{i}",
            "decision": f"Decision of product {i}",
            "product_name": name,
            "reasoning": "",
            "tags": [],
            "affects_products": [NAMES[(i + 1) % 5], NAMES[(i + 2) % 5]],
            "alternatives": [],
            "supersedes": None,
            "superseded_by": None,
            "decided_at": AT,
            "created_at": AT,
            "source": "api",
        }
        memories.append(_record("decision", decision, decision["decision"]))
    return mif_document(memories)


def _without_meta(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "export_meta"}


def test_an_earlier_releases_export_restores_every_product_under_the_migrations_names(user, client_for):
    client = client_for(user)
    document = _old_export()
    response = import_document(client, document)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["errors"] == [], report
    assert (report["products_imported"], report["decisions_imported"], report["kernel_imported"]) == (5, 5, True)
    assert report["duplicates_skipped"] == 0
    # Every record holding one of those names says how it was read; only "Acme"'s own state does not.
    assert {w["id"] for w in report["warnings"]} == {m["id"] for m in document["memories"]} - {
        document["memories"][1]["id"]
    }
    assert any("'Acme\\u200b' is read as 'Acme (2)'" in w["message"] for w in report["warnings"]), report

    for i, name in enumerate(NAMES):
        state = client.get(f"/api/v1/memory/product/{quote(RENAMED[name], safe='')}/state")
        assert state.status_code == 200, state.text
        assert state.json()["what_works"] == [f"State of product {i}"]
        decision = client.get(f"/api/v1/memory/decisions/00000000-0000-4000-9000-00000000000{i}").json()
        assert decision["product_name"] == RENAMED[name]
        assert decision["affects_products"] == [RENAMED[NAMES[(i + 1) % 5]], RENAMED[NAMES[(i + 2) % 5]]]
    kernel = client.get("/api/v1/memory/identity").json()
    assert [entry["name"] for entry in kernel["products"]] == list(RENAMED.values())
    assert (kernel["identity"]["name"], kernel["constraints"]["never"]) == ("Ada Lovelace", ["Deploy on Fridays"])

    exported = export_json(client)
    again = import_document(client, document).json()
    assert (again["products_imported"], again["decisions_imported"], again["kernel_imported"]) == (0, 0, False)
    assert (again["duplicates_skipped"], again["errors"]) == (11, [])
    assert _without_meta(export_json(client)) == _without_meta(exported)


def test_a_product_of_the_scope_with_a_state_of_its_own_is_not_taken_for_one_of_the_document(user, client_for):
    client = client_for(user)
    own = client.post("/api/v1/memory/product/Acme/state", json={"what_works": ["Our own"]})
    assert own.status_code == 201, own.text
    memories = _old_export()["memories"]
    report = import_document(client, mif_document([memories[2], memories[7]])).json()  # Acme\u200b's
    assert (report["products_imported"], report["decisions_imported"], report["errors"]) == (1, 1, [])
    assert client.get("/api/v1/memory/product/Acme/state").json()["what_works"] == ["Our own"]
    assert client.get(f"/api/v1/memory/product/{quote('Acme (2)')}/state").json()["what_works"] == [
        "State of product 1"
    ]
    decision = client.get("/api/v1/memory/decisions/00000000-0000-4000-9000-000000000001").json()
    assert decision["product_name"] == "Acme (2)"


def test_the_import_maps_a_name_as_the_migration_did():
    migration = importlib.import_module("apps.products.migrations.0004_product_names_under_the_rule")
    kept = ["Love \u2764\ufe0f", "Alba \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"]
    for name in [*NAMES, *kept, "\ufeffBom", "Ka\u200cfe", "Ze\u00adta \u2066x\u2069"]:
        assert name_under_the_rule(name) == migration.under_the_rule(name)


def test_a_name_no_release_stored_is_refused_as_before(user, client_for):
    document = _old_export()
    states = [m for m in document["memories"] if m["memory_type"] == "context"][1:]
    states[0]["vendor_extensions"][VENDOR]["data"]["name"] = "Ac\x07me\u200b"  # a control character
    response = import_document(client_for(user), mif_document(states))
    assert [(e["id"], e["message"]) for e in response.json()["errors"]] == [
        (states[0]["id"], "name: A product name may not contain control characters.")
    ]
