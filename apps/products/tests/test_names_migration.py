"""The migration ``products.0004_product_names_under_the_rule`` brings product names stored before
the rule of ``apps.products.names`` under it (invisible characters at the ends trimmed, inside
removed, NFC), renames a product whose clean name another product holds (``Billing (2)``), and maps
the names held as text (the kernel's products, decisions' ``affects_products``, consolidation jobs)
so they name the same products. Rows are written the old way (ORM), read back over real HTTP."""

from __future__ import annotations

import importlib
import unicodedata
from urllib.parse import quote

import pytest
from django.apps import apps as django_apps
from django.db import connection

from apps.decisions.models import Decision
from apps.identity.models import Kernel
from apps.memory.models import ConsolidationJob
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

OLD = ["stored before the rule"]
# Names the rule keeps as they are: VS16 after an emoji, a flag's tag sequence, ZWNJ inside.
KEPT = [
    "Love \u2764\ufe0f",
    "Alba \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "Ka\u200cfe",
]


def migrate() -> None:
    migration = importlib.import_module("apps.products.migrations.0004_product_names_under_the_rule")
    migration.names_under_the_rule(django_apps, connection.schema_editor())


def state(client, name: str) -> dict:
    response = client.get(f"/api/v1/memory/product/{quote(name, safe='')}/state")
    assert response.status_code == 200, response.text
    return response.json()


def test_stored_names_are_brought_under_the_rule_and_stay_reachable(write_api, user, make_user):
    space = space_ensure_personal(user=user)
    stored = {
        name: ProductState.objects.create(space=space, name=name, what_works=OLD)
        for name in ("Billing\u200b", "Pay\u202eroll", "\ufeffBom", "Cafe\u0301", "\u200b", "Ze\u00adta", *KEPT)
    }
    # The twin the API made for "Billing\u200b" once the rule trimmed it: it keeps its name.
    assert write_api.post("/api/v1/memory/product/Billing/state", json={"what_works": ["new"]}).status_code == 201
    stranger = ProductState.objects.create(space=space_ensure_personal(user=make_user()), name="Billing\u200b")
    # What consolidation copied into the kernel, and a decision naming them.
    assert write_api.put("/api/v1/memory/identity", json={"products": [{"name": "Billing"}]}).status_code == 200
    kernel = Kernel.objects.get(space=space)
    Kernel.objects.filter(pk=kernel.pk).update(
        products=[
            {"name": "Billing"},
            {"name": "Pay\u202eroll", "summary": "Pays"},
            {"name": "Billing\u200b"},
            {"name": "\ufeffBom"},
            {"name": "Bom\u2060"},  # names no product: the same name as the entry before, dropped
        ]
    )
    decision = write_api.post("/api/v1/memory/decisions", json={"decision": "Use Stripe", "product_name": "Billing"})
    assert decision.status_code == 201, decision.text
    Decision.objects.filter(pk=decision.json()["id"]).update(affects_products=["Pay\u202eroll", "\ufeffBom", "Bom"])
    job = ConsolidationJob.objects.create(space=space, product=stored["Pay\u202eroll"], product_name="Pay\u202eroll")

    migrate()

    renamed = dict(ProductState.objects.filter(space=space).values_list("id", "name"))
    assert renamed[stored["Billing\u200b"].id] == "Billing (2)"
    assert renamed[stored["Pay\u202eroll"].id] == "Payroll"
    assert renamed[stored["\ufeffBom"].id] == "Bom"
    assert renamed[stored["Cafe\u0301"].id] == "Caf\u00e9"
    assert renamed[stored["\u200b"].id] == "Unnamed product"
    assert renamed[stored["Ze\u00adta"].id] == "Zeta"
    assert all(renamed[stored[name].id] == name for name in KEPT)
    assert ProductState.objects.get(pk=stranger.pk).name == "Billing"  # its own space: no collision there
    for name in ("Billing (2)", "Payroll", "Bom", "Caf\u00e9", "Unnamed product", "Zeta"):
        assert state(write_api, name)["what_works"] == OLD
    assert state(write_api, "Billing")["what_works"] == ["new"]
    assert state(write_api, "Billing (2)")["version"] == 2  # the representation changed

    kernel = write_api.get("/api/v1/memory/identity").json()
    assert [(entry["name"], entry["summary"]) for entry in kernel["products"]] == [
        ("Billing", None),
        ("Payroll", "Pays"),
        ("Billing (2)", None),
        ("Bom", None),
    ]
    assert "\u202e" not in kernel["injection_block"] and "Payroll" in kernel["injection_block"]
    # The kernel's own GET → PUT round trip, which the server's data used to fail.
    put = write_api.put("/api/v1/memory/identity", json={"products": kernel["products"]})
    assert put.status_code == 200, put.text
    assert write_api.get(f"/api/v1/memory/decisions/{decision.json()['id']}").json()["affects_products"] == [
        "Payroll",
        "Bom",
    ]
    job.refresh_from_db()
    assert job.product_name == "Payroll"

    names = ProductState.objects.values_list("name", flat=True).order_by("id")
    before = list(names)
    migrate()  # again: nothing left to do
    assert list(names) == before
    assert all(unicodedata.is_normalized("NFC", name) for name in before)
