"""A kernel write records each product entry's summary and URL on the product state of the space
whose layer it writes, and clears them where it removes the entry, so consolidation brings back
a product it dropped with them and one the owner removed without (README, consolidation step 4;
the consolidation side is in apps/memory/tests/test_consolidation_kernel_products.py)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.identity.models import Kernel
from apps.memory.consolidation_steps import lock_space
from apps.products.models import ProductState
from apps.scopes.models import Membership, Role
from apps.scopes.services import member_put, space_ensure_personal, workspace_create
from tests.support.concurrency import on_thread, wait_for_lock_waiters

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/identity"
PERSONAL = {"X-Synchronex-Scope": "personal"}


def descriptions(space, name: str = "Atlas") -> tuple[str, str]:
    return ProductState.objects.filter(space=space, name=name).values_list("kernel_summary", "kernel_url").get()


def test_each_layer_records_and_clears_the_product_states_of_its_own_space(make_user, client_for):
    owner, bob = make_user(tier="team"), make_user(tier="team")
    studio = workspace_create(owner=owner, name="Studio", kind="team")
    member_put(actor_membership=Membership.objects.get(space=studio, role=Role.OWNER), user=bob, role=Role.MEMBER)
    personal, team = space_ensure_personal(user=bob), {"X-Synchronex-Scope": str(studio.id)}
    api = client_for(bob)
    for headers in (PERSONAL, team):  # an "Atlas" in both spaces
        assert api.post("/api/v1/memory/product/Atlas/state", json={}, headers=headers).status_code == 201

    own = {"name": "Atlas", "summary": "Bob's side notes", "url": "https://bob.example/"}
    assert api.put(URL, json={"products": [own]}, headers=PERSONAL).status_code == 200
    assert descriptions(personal) == ("Bob's side notes", "https://bob.example/")
    assert descriptions(studio) == ("", "")  # the personal layer writes the personal space's only

    written = api.put(URL, json={"products": [{"name": "atlas", "summary": "Client site"}]}, headers=team)
    assert written.status_code == 200, written.text
    assert descriptions(studio) == ("Client site", "")  # matched by the product-name key
    renamed = api.put(URL, json={"products": [{"name": "ATLAS", "summary": "Client site v2"}]}, headers=team)
    assert renamed.status_code == 200, renamed.text
    assert descriptions(studio) == ("Client site v2", "")  # respelled, not removed
    assert descriptions(personal) == ("Bob's side notes", "https://bob.example/")

    assert api.put(URL, json={"products": None}, headers=PERSONAL).status_code == 200
    assert descriptions(personal) == ("", "")
    assert descriptions(studio) == ("Client site v2", "")
    assert api.put(URL, json={"products": [{"name": "Other"}]}, headers=team).status_code == 200
    assert descriptions(studio) == ("", "")


def test_a_products_write_updates_product_states_once_and_once_more_when_it_removes_entries(inproc_for, user):
    client = inproc_for(user)
    for name in ("Atlas", "Borealis"):
        assert client.post(f"/api/v1/memory/product/{name}/state", {}, format="json").status_code == 201

    def writes(body) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            response = client.put(URL, body, format="json")
        assert response.status_code == 200, response.content
        return [q["sql"] for q in captured.captured_queries if "products_productstate" in q["sql"]]

    both = {"products": [{"name": "Atlas", "summary": "One"}, {"name": "Borealis"}]}
    assert [sql.split()[0] for sql in writes(both)] == ["UPDATE"]
    assert [sql.split()[0] for sql in writes(both)] == ["UPDATE"]
    assert [sql.split()[0] for sql in writes({"products": [{"name": "Borealis"}]})] == ["UPDATE", "UPDATE"]
    assert writes({"identity": {"name": "Ada"}}) == []
    assert descriptions(space_ensure_personal(user=user)) == ("", "")


def test_a_products_write_waits_for_a_running_consolidation_instead_of_deadlocking_with_it(user, write_api):
    space = space_ensure_personal(user=user)
    assert write_api.post("/api/v1/memory/product/Atlas/state", json={}).status_code == 201
    assert write_api.put(URL, json={"products": [{"name": "Atlas", "summary": "One"}]}).status_code == 200
    locked, release, outcome = threading.Event(), threading.Event(), {}

    def consolidating():  # steps 1–4's locks, in their order: the space's lock, its products, the kernel
        with transaction.atomic():
            with transaction.get_connection().cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '10s'")  # the write would be the victim
            lock_space(space)
            list(ProductState.objects.select_for_update().filter(space=space).order_by("id"))
            locked.set()
            release.wait(10)
            return Kernel.objects.select_for_update().get(space=space).version

    run = on_thread(consolidating, outcome, "run")
    assert locked.wait(10)
    write = on_thread(lambda: write_api.put(URL, json={"products": None}).status_code, outcome, "write")
    try:
        wait_for_lock_waiters()  # the write waits for the run before it takes the kernel
    finally:
        release.set()
        run.join()
        write.join()
    assert outcome == {"run": 1, "write": 200}
    assert descriptions(space) == ("", "")
