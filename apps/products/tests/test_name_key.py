"""One key for product names everywhere (SPEC §4, §5): product states, the kernel's products,
consolidation's snapshots, MIF import and decisions' affects_products all match names alike.

The oracle is the product table itself: two names are "the same" exactly when the per-space
unique index puts them on one product row. The pairs below are the ones on which Python's
casefold()/lower() and PostgreSQL's lower() disagree, so the tests hold whatever the database's
locale makes of them.
"""

from __future__ import annotations

import importlib
import unicodedata
from urllib.parse import quote

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.models.functions import Lower

from apps.decisions.models import Decision
from apps.identity.models import Kernel, KernelRevision
from apps.identity.services import kernel_update
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.memory.tests.mif_support import export_json, import_document
from apps.products.models import ProductState
from apps.products.names import product_name_keys
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

IDENTITY = "/api/v1/memory/identity"
CAFE_NFC = unicodedata.normalize("NFC", "Café")
CAFE_NFD = unicodedata.normalize("NFD", "Café")
PAIRS = [
    ("Straße", "STRASSE"),
    ("ΣΊΣΥΦΟΣ", "σίσυφος"),
    ("ΣΑΣ", "σας"),
    ("ﬁle", "FILE"),
    ("İstanbul", "Istanbul"),
    ("Atlas", "ATLAS"),
    (CAFE_NFC, CAFE_NFD),
]
# The length rule counts the NFC name: 120 code points that compose to 60, and 100 that NFC
# decomposes to 200 (U+0958 is a composition exclusion: it becomes U+0915 U+093C).
SHRINKS_TO_60 = "e\u0301" * 60
GROWS_TO_200 = "\u0958" * 100
TOO_LONG = "A product name has at most 100 characters."


def same_product(space, a: str, b: str) -> bool:
    return product_ensure(space=space, name=a).pk == product_ensure(space=space, name=b).pk


def one_per_product(space, names: list[str]) -> list[str]:
    """The names with later ones that name an earlier one's product left out."""
    seen, kept = set(), []
    for name in names:
        pk = product_ensure(space=space, name=name).pk
        if pk not in seen:
            seen.add(pk)
            kept.append(name)
    return kept


def consolidate(space) -> None:
    job, created = consolidation_job_request(space=space)
    assert created
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_the_key_is_the_product_tables_own(first, second, user):
    """``product_name_keys`` (what the kernel and the decisions compare) agrees with the unique
    index, whatever the database locale makes of these pairs."""
    space = space_ensure_personal(user=user)
    keys = product_name_keys([first, second])
    assert (keys[0] == keys[1]) is same_product(space, first, second)
    rows = ProductState.objects.annotate(key=Lower("name"))  # the unique index's expression
    assert keys == [rows.get(pk=product_ensure(space=space, name=name).pk).key for name in (first, second)]


def test_python_casefold_would_disagree_with_the_table(user):
    """Why the key is PostgreSQL's lower(): casefold() maps 'ß' to 'ss', lower() never does."""
    space = space_ensure_personal(user=user)
    disagreements = [(a, b) for a, b in PAIRS if (a.casefold() == b.casefold()) != same_product(space, a, b)]
    assert ("Straße", "STRASSE") in disagreements


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_a_kernel_refuses_two_names_exactly_when_they_are_one_product(first, second, user, write_api):
    space = space_ensure_personal(user=user)
    same = same_product(space, first, second)
    response = write_api.put(IDENTITY, json={"products": [{"name": first}, {"name": second}]})
    if same:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"]["fields"] == {
            "products[1].name": ["Duplicate product name (same as item 0, ignoring case)."]
        }
    else:
        assert response.status_code == 200, response.text
        assert [p["name"] for p in response.json()["products"]] == [first, second]


def test_nfc_and_nfd_spellings_are_one_name_in_the_kernel(write_api):
    response = write_api.put(IDENTITY, json={"products": [{"name": CAFE_NFC}, {"name": CAFE_NFD}]})
    assert response.status_code == 400, response.text


def test_a_kernel_product_name_follows_the_product_name_rule(write_api):
    """The kernel's ``products`` take a name as a product state does: trimmed, NFC, then
    1–100 characters without control characters, stored NFC (``ProductNameField``)."""
    state = write_api.post(f"/api/v1/memory/product/{quote(SHRINKS_TO_60, safe='')}/state", json={})
    assert state.status_code == 201, state.text
    kernel = write_api.put(IDENTITY, json={"products": [{"name": f"  {SHRINKS_TO_60} "}]})
    assert kernel.status_code == 200, kernel.text
    assert kernel.json()["products"][0]["name"] == state.json()["name"] == "\u00e9" * 60
    assert Kernel.objects.get().products == [{"name": "\u00e9" * 60}]

    refused = write_api.post(f"/api/v1/memory/product/{quote(GROWS_TO_200, safe='')}/state", json={})
    assert refused.status_code == 400 and refused.json()["error"]["details"]["fields"] == {"name": [TOO_LONG]}
    control = "A product name may not contain control characters."
    for name, problem in ((GROWS_TO_200, TOO_LONG), ("At\x85las", control)):
        response = write_api.put(IDENTITY, json={"products": [{"name": "Beta"}, {"name": name}]})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"]["fields"] == {"products[1].name": [problem]}
    assert Kernel.objects.get().version == 1


def test_a_mif_import_cleans_kernel_product_names_by_the_same_rule(make_user, client_for):
    """Kernels stored before the rule may hold such names; importing their export cleans them."""
    imported = {}
    for name in (SHRINKS_TO_60, GROWS_TO_200):
        source = make_user(tier="pro")
        kernel_update(space=space_ensure_personal(user=source), changes={"products": [{"name": name}]}, actor="test")
        target = client_for(make_user(tier="pro"))
        response = import_document(target, export_json(client_for(source)))
        assert response.status_code == 200, response.text
        imported[name] = (response.json(), target.get(IDENTITY).json()["products"])
    body, products = imported[SHRINKS_TO_60]
    assert body["kernel_imported"] is True and [p["name"] for p in products] == ["\u00e9" * 60]
    body, products = imported[GROWS_TO_200]
    assert body["kernel_imported"] is False and products is None
    assert TOO_LONG in str(body["errors"])


def test_consolidated_kernels_survive_a_get_put_round_trip_and_a_mif_round_trip(make_user, client_for):
    user = make_user(tier="pro")
    space = space_ensure_personal(user=user)
    names = [name for pair in PAIRS for name in pair]
    for name in names:
        product_ensure(space=space, name=name)
    consolidate(space)
    client = client_for(user)
    products = client.get(IDENTITY).json()["products"]
    kernel_names = [p["name"] for p in products]
    assert one_per_product(space, kernel_names) == kernel_names
    assert len(kernel_names) == min(10, ProductState.objects.filter(space=space).count())

    response = client.put(IDENTITY, json={"products": products})
    assert response.status_code == 200, response.text

    exported = export_json(client)
    other = make_user(tier="pro")
    imported = import_document(client_for(other), exported)
    assert imported.status_code == 200, imported.text
    assert imported.json()["errors"] == []
    assert imported.json()["kernel_imported"] is True


def test_consolidation_keeps_one_snapshot_per_product(user):
    """A kernel written before the rule (here: both spellings of one product) comes out of
    consolidation with one entry for it, the first one's summary kept."""
    space = space_ensure_personal(user=user)
    product_ensure(space=space, name=CAFE_NFC)
    kernel_update(
        space=space,
        changes={"products": [{"name": CAFE_NFD, "summary": "first"}, {"name": CAFE_NFC, "summary": "second"}]},
        actor="test",
    )
    consolidate(space)
    assert Kernel.objects.get(space=space).products == [{"name": CAFE_NFC, "status": "active", "summary": "first"}]


def test_affects_products_keep_one_name_per_product(user, write_api):
    space = space_ensure_personal(user=user)
    names = [name for pair in PAIRS for name in pair][:10]
    response = write_api.post(
        "/api/v1/memory/decisions",
        json={"decision": "Share the billing code", "product_name": "Core", "affects_products": names},
    )
    assert response.status_code == 201, response.text
    expected = one_per_product(space, [unicodedata.normalize("NFC", name) for name in names])
    assert response.json()["affects_products"] == expected
    # Each affected product finds the decision as related, by the same key.
    for name in expected:
        found = write_api.get("/api/v1/memory/decisions/search", params={"product": name}).json()["results"]
        assert [d["decision"] for d in found] == ["Share the billing code"], name


def test_decision_signals_keep_one_affected_name_per_product(user, write_api):
    # Ingest keys a batch's affected names in one query (apps.ingest.services), not per signal.
    space = space_ensure_personal(user=user)
    names = [name for pair in PAIRS for name in pair][:10]
    signal = {"type": "decision", "title": "Share the billing code", "data": {"affects_products": names}}
    response = write_api.post("/api/v1/ingest/Core", json={"signals": [signal, {**signal, "title": "And the rest"}]})
    assert response.status_code in (200, 201, 202), response.text
    expected = one_per_product(space, [unicodedata.normalize("NFC", name) for name in names])
    stored = Decision.objects.filter(space=space).order_by("decision")
    assert [d.affects_products for d in stored] == [expected, expected]


def test_the_migration_leaves_one_name_per_product_in_stored_kernels(user, write_api):
    """Kernels stored under the old rule (casefold, no NFC) may hold two names of one product."""
    space = space_ensure_personal(user=user)
    kernel_update(
        space=space,
        changes={"products": [{"name": CAFE_NFC, "summary": "kept"}, {"name": "Atlas"}, {"name": CAFE_NFD}]},
        actor="test",
    )
    migration = importlib.import_module("apps.identity.migrations.0004_kernel_product_name_key")
    migration.one_name_per_product(django_apps, connection.schema_editor())
    kernel = Kernel.objects.get(space=space)
    assert kernel.products == [{"name": CAFE_NFC, "summary": "kept"}, {"name": "Atlas"}]
    assert kernel.version == 2
    assert KernelRevision.objects.get(kernel=kernel, version=2).snapshot["products"] == kernel.products
    body = write_api.get(IDENTITY).json()
    assert body["version"] == 2 and body["injection_block"].count("Café") == 1
    # A second run changes nothing.
    migration.one_name_per_product(django_apps, connection.schema_editor())
    assert Kernel.objects.get(space=space).version == 2
    assert write_api.put(IDENTITY, json={"products": body["products"]}).status_code == 200
