"""An import that changes a product state or the kernel gives it a new version (SPEC §1: lost
updates must be impossible): an ``If-Match`` read before the import no longer matches."""

import uuid

import pytest

from apps.memory.tests.mif_support import import_document, mif_document

pytestmark = pytest.mark.django_db(transaction=True)

STATE = "/api/v1/memory/product/Gamma/state"
KERNEL = "/api/v1/memory/identity"


def _product_record(**extra) -> dict:
    data = {
        "id": str(uuid.uuid4()),
        "name": "Gamma",
        "status": "blocked",
        "what_works": ["imported item"],
        "what_is_blocked": ["imported blocker"],
        "next_session_starts_here": "imported handoff",
        **extra,
    }
    synchronex = {"kind": "product_state", "data": data}
    return {"id": data["id"], "content": "Gamma state", "vendor_extensions": {"synchronex": synchronex}}


def _imported(client, record) -> dict:
    response = import_document(client, mif_document([record]))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("record_version", [None, 1])
def test_an_if_match_read_before_an_import_filled_the_product_is_precondition_failed(write_api, record_version):
    decided = write_api.post("/api/v1/memory/decisions", json={"decision": "Ship Gamma", "product_name": "Gamma"})
    assert decided.status_code == 201, decided.text
    read = write_api.get(STATE)
    assert (read.headers["ETag"], read.json()["what_works"]) == ('"1"', [])
    extra = {} if record_version is None else {"version": record_version}
    assert _imported(write_api, _product_record(**extra))["products_imported"] == 1

    filled = write_api.get(STATE)
    assert filled.json()["what_works"] == ["imported item"]
    assert filled.headers["ETag"] == '"2"'  # changed, so a new version
    stale = write_api.post(STATE, json={"what_works": ["client item"]}, headers={"If-Match": read.headers["ETag"]})
    assert stale.status_code == 412, stale.text
    assert stale.json()["error"]["details"] == {"current_version": 2}
    assert write_api.get(STATE).json()["what_works"] == ["imported item"]


def test_a_filled_product_keeps_a_record_version_above_its_own(write_api):
    assert (
        write_api.post("/api/v1/memory/decisions", json={"decision": "Ship", "product_name": "Gamma"}).status_code
        == 201
    )
    assert _imported(write_api, _product_record(version=7))["products_imported"] == 1
    assert write_api.get(STATE).headers["ETag"] == '"7"'


def test_an_if_match_read_before_a_kernel_import_is_precondition_failed(write_api):
    read = write_api.get(KERNEL)
    assert read.headers["ETag"] == '"0"'
    data = {"id": str(uuid.uuid4()), "identity": {"name": "Imported"}, "version": 1}
    synchronex = {"kind": "identity_kernel", "data": data}
    record = {"id": data["id"], "content": "Kernel", "vendor_extensions": {"synchronex": synchronex}}
    assert _imported(write_api, record)["kernel_imported"] is True
    assert write_api.get(KERNEL).headers["ETag"] == '"1"'
    stale = write_api.put(KERNEL, json={"identity": {"name": "Mine"}}, headers={"If-Match": read.headers["ETag"]})
    assert stale.status_code == 412, stale.text
    assert write_api.get(KERNEL).json()["identity"]["name"] == "Imported"
