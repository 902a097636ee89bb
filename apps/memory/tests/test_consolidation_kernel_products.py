"""Step 4 (README): the kernel's products are the ≤ 10 most recently active, and the summary and
URL the user wrote for a product come back with it when it returns to the kernel. The kernel and
signals go over real HTTP; the job runs in this process, as in test_consolidation_steps."""

from __future__ import annotations

import pytest

from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]

IDENTITY = "/api/v1/memory/identity"
APPS = [f"App{n}" for n in range(10)]


def note(client, product: str) -> None:
    response = client.post(f"/api/v1/ingest/{product}", json={"type": "note", "body": "worked on it"})
    assert response.status_code == 202, response.text


def kernel_products(client) -> dict[str, dict]:
    response = client.get(IDENTITY)
    assert response.status_code == 200, response.text
    return {entry["name"]: entry for entry in response.json()["products"]}


def described(n: int) -> dict:
    return {"name": f"App{n}", "summary": f"About App{n}", "url": f"https://app{n}.example/"}


def test_a_product_back_in_the_kernel_brings_back_its_summary_and_url(user, write_api, read_api):
    space = space_ensure_personal(user=user)
    put = write_api.put(IDENTITY, json={"products": [described(n) for n in range(10)]})
    assert put.status_code == 200, put.text
    for name in [*APPS, "Side"]:
        note(write_api, name)
    consolidate(space)
    assert list(kernel_products(read_api)) == ["Side", *reversed(APPS[1:])]  # App0 rotated out

    note(write_api, "App0")
    consolidate(space)
    products = kernel_products(read_api)
    assert "App1" not in products  # rotated out in its turn
    assert products["App0"] == {**described(0), "status": "active"}
    assert "**App0** (active): About App0" in read_api.get(IDENTITY).json()["injection_block"]

    note(write_api, "App1")
    consolidate(space)
    assert kernel_products(read_api)["App1"] == {**described(1), "status": "active"}
    assert consolidate(space)["kernel_refreshed"] is False  # nothing changed: no new version


def test_a_summary_the_user_removed_stays_removed_after_the_product_returns(user, write_api, read_api):
    space = space_ensure_personal(user=user)
    assert write_api.put(IDENTITY, json={"products": [described(n) for n in range(10)]}).status_code == 200
    for name in APPS:
        note(write_api, name)
    consolidate(space)
    entries = [
        {**entry, "summary": None} if entry["name"] == "App0" else entry
        for entry in read_api.get(IDENTITY).json()["products"]
    ]
    assert write_api.put(IDENTITY, json={"products": entries}).status_code == 200
    note(write_api, "Side")
    consolidate(space)
    assert "App0" not in kernel_products(read_api)

    note(write_api, "App0")
    consolidate(space)
    assert kernel_products(read_api)["App0"] == {
        "name": "App0",
        "status": "active",
        "summary": None,
        "url": "https://app0.example/",
    }


@pytest.mark.parametrize("without", [[{"name": "Other"}], None], ids=["entry-left-out", "products-null"])
def test_an_entry_the_owner_removed_comes_back_without_its_summary_and_url(user, write_api, read_api, without):
    space = space_ensure_personal(user=user)
    for name in ("Secret", "Other"):
        note(write_api, name)
    secret = {"name": "Secret", "summary": "Acquisition target: Initech", "url": "https://internal.example/deal"}
    assert write_api.put(IDENTITY, json={"products": [secret, {"name": "Other"}]}).status_code == 200
    consolidate(space)
    assert kernel_products(read_api)["Secret"] == {**secret, "status": "active"}

    removed = write_api.put(IDENTITY, json={"products": without})
    assert removed.status_code == 200, removed.text
    consolidate(space)  # Secret is among the 10 most recently active: back in the kernel, bare
    assert kernel_products(read_api)["Secret"] == {"name": "Secret", "status": "active", "summary": None, "url": None}
    assert "Initech" not in read_api.get(IDENTITY).json()["injection_block"]
