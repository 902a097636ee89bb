"""A MIF import into a workspace the admin deletes while it runs: NOT_FOUND, saying so, never a 500.

The import commits in parts (product states, decision chunks, the kernel, batches of memories).
A part written after the delete committed was refused at its COMMIT by the space's foreign key,
which the import's code took for other conflicts (a product's id "taken") or let through as an
unexpected error. Each part now holds its space's row before it commits (``space_kept``).
"""

from __future__ import annotations

import threading

import pytest
from django.urls import reverse

from apps.decisions.models import Decision
from apps.identity.models import Kernel
from apps.memory.mif import importers, restore_decisions
from apps.memory.models import Memory
from apps.memory.tests.mif_support import EXPORT, IMPORT, seed_space
from apps.products.models import ProductState
from apps.scopes.models import Space
from apps.scopes.services import spaces_delete, workspace_create
from tests.support.concurrency import on_thread, wait_for_lock_waiters

pytestmark = pytest.mark.django_db(transaction=True)

# Where the delete lands: before the first write, or before each later part of the import.
STAGES = ["legacy_names_map", "decisions_restore", "kernel_restore", "memories_write"]


@pytest.fixture
def document(make_user, inproc_for) -> str:
    """An export with every kind of record: product states, decisions, a kernel, memories."""
    source = make_user()
    seed_space(source)
    response = inproc_for(source, "read").get(EXPORT)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def _import(client, workspace, body: str):
    return client.post(IMPORT, data=body, content_type="application/json", HTTP_X_SYNCHRONEX_SCOPE=str(workspace.pk))


def _left(space_id) -> dict:
    models = (ProductState, Decision, Kernel, Memory)
    return {m.__name__: n for m in models if (n := m.objects.filter(space_id=space_id).count())}


def _assert_scope_gone(response) -> None:
    assert response.status_code == 404, response.content
    error = response.json()["error"]
    assert error["code"] == "NOT_FOUND"
    assert "deleted while the import ran" in error["message"]
    assert "went with the scope" in error["message"]


@pytest.mark.parametrize("stage", STAGES)
def test_an_import_whose_workspace_is_deleted_before_a_part_stops_with_not_found(
    make_user, inproc_for, document, monkeypatch, stage
):
    owner = make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind=Space.Kind.TEAM)
    step = getattr(importers, stage)

    def deleted_first(*args, **kwargs):
        spaces_delete(spaces=Space.objects.filter(pk=workspace.pk))  # the admin's delete, committed
        return step(*args, **kwargs)

    monkeypatch.setattr(importers, stage, deleted_first)

    _assert_scope_gone(_import(inproc_for(owner), workspace, document))
    assert _left(workspace.pk) == {}


def test_a_delete_waits_for_the_part_in_hand_and_the_import_then_stops_with_not_found(
    make_user, inproc_for, staff, document, monkeypatch
):
    owner = make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind=Space.Kind.TEAM)
    inside, release, deleted = threading.Event(), threading.Event(), threading.Event()
    insert, kernel_restore = restore_decisions._insert, importers.kernel_restore
    outcome: dict = {}

    def pausing_insert(*args, **kwargs):  # inside the first decision chunk, its product rows held
        insert(*args, **kwargs)
        inside.set()
        release.wait(10)

    def after_the_delete(*args, **kwargs):
        deleted.wait(10)
        return kernel_restore(*args, **kwargs)

    def delete():
        try:
            return staff.post(reverse("admin:scopes_space_delete", args=[workspace.pk]), {"post": "yes"})
        finally:
            deleted.set()

    monkeypatch.setattr(restore_decisions, "_insert", pausing_insert)
    monkeypatch.setattr(importers, "kernel_restore", after_the_delete)
    client = inproc_for(owner)

    importing = on_thread(lambda: _import(client, workspace, document), outcome, "import")
    assert inside.wait(10)
    admin = on_thread(delete, outcome, "delete")
    wait_for_lock_waiters()  # the delete waits for the chunk's product rows
    release.set()
    importing.join(15), admin.join(15)

    assert not isinstance(outcome["delete"], Exception), outcome["delete"]
    assert outcome["delete"].status_code == 302
    assert not isinstance(outcome["import"], Exception), outcome["import"]
    _assert_scope_gone(outcome["import"])
    assert not Space.objects.filter(pk=workspace.pk).exists()
    assert _left(workspace.pk) == {}


def test_an_import_into_a_workspace_that_stays_is_unchanged(make_user, inproc_for, document):
    owner = make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind=Space.Kind.TEAM)
    response = _import(inproc_for(owner), workspace, document)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["products_imported"], body["decisions_imported"], body["kernel_imported"]) == (3, 3, True)
    assert (body["memories_imported"], body["errors"]) == (2, [])
