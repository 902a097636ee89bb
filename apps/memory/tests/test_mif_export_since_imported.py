"""GET /api/v1/memory/export-mif?since=: rows a MIF import wrote here since that moment are kept,
whatever timestamps of their own the document gave them (SPEC §8)."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from apps.decisions.models import Decision
from apps.identity.models import Kernel
from apps.memory.mif.common import iso_z
from apps.memory.models import Memory
from apps.memory.services import memory_create
from apps.memory.tests.mif_support import export_json, import_document, mif_memory, seed_space
from apps.products.models import ProductState
from apps.products.services import product_state_write
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
STAMPS = ("created_at", "updated_at", "stored_at")


def backdated(queryset) -> None:
    """Every row of ``queryset`` as if made, changed and stored here at ``LONG_AGO``."""
    fields = {f.name for f in queryset.model._meta.concrete_fields}
    queryset.update(**{name: LONG_AGO for name in STAMPS if name in fields})


def test_since_keeps_rows_imported_since_with_older_timestamps_of_their_own(user, make_user, client_for):
    space = seed_space(user)["space"]
    for model in (Kernel, ProductState, Decision, Memory):
        backdated(model.objects.filter(space=space))
    full = export_json(client_for(user, "read"))
    assert len(full["memories"]) == 9

    target = make_user(tier="pro")
    client = client_for(target)
    mine = space_ensure_personal(user=target)
    # Rows of the target written long ago and not touched since: they stay out.
    old_memory = memory_create(space=mine, data=mif_memory(content="An old note", created_at="2020-01-01T00:00:00Z"))
    backdated(Memory.objects.filter(pk=old_memory.pk))
    old_product, _ = product_state_write(space=mine, name="Delta", changes={"what_works": ["Old"]})
    backdated(ProductState.objects.filter(pk=old_product.pk))

    before = timezone.now()
    response = import_document(client, full)
    assert response.status_code == 200, response.text
    assert response.json()["errors"] == []

    recent = export_json(client, since=iso_z(before))
    assert sorted(m["id"] for m in recent["memories"]) == sorted(m["id"] for m in full["memories"])
    # The kernel, product states and decisions keep the document's own timestamps.
    kept = [m for m in recent["memories"] if m["vendor_extensions"]["synchronex"]["kind"] != "memory"]
    assert len(kept) == 7 and all(m["created_at"] == "2020-01-01T00:00:00Z" for m in kept)
    everything = {m["id"] for m in export_json(client)["memories"]}
    assert {str(old_memory.memory_id), str(old_product.pk)} <= everything


def test_since_leaves_out_rows_imported_before_it(user, make_user, client_for):
    space = seed_space(user)["space"]
    for model in (Kernel, ProductState, Decision, Memory):
        backdated(model.objects.filter(space=space))
    full = export_json(client_for(user, "read"))
    target = make_user(tier="pro")
    client = client_for(target)
    assert import_document(client, full).status_code == 200
    mine = space_ensure_personal(user=target)
    for model in (Kernel, ProductState, Decision, Memory):
        backdated(model.objects.filter(space=mine))
    assert export_json(client, since="2021-01-01")["memories"] == []
