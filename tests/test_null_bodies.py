"""A JSON ``null`` body is refused as every other body that is not a JSON object is: the same
VALIDATION_ERROR as ``[]`` gets, on every operation of the document that takes a JSON body
(DRF's own answer to null was "No data provided", which says nothing about what to send)."""

from __future__ import annotations

import re
import uuid

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

JSON = {"Content-Type": "application/json"}
# A list is a document here (mem0's export); null is refused by its own message.
LIST_BODIES = {("post", "/api/v1/memory/import-mif")}


def _answer(api, method: str, path: str, body: bytes):
    response = api.request(method.upper(), path, data=body, headers=JSON)
    return response.status_code, response.json() if response.content else None


def test_a_null_body_gets_the_answer_a_list_body_gets(client_for, make_user):
    api = client_for(make_user(tier="team"))
    api.post("/api/v1/memory/product/atlas/state", json={"status": "active"})
    document = api.get("/api/v1/openapi.json").json()
    compared = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            if not path.startswith("/api/v1/") or "application/json" not in content:
                continue
            concrete = re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else "atlas", path)
            null = _answer(api, method, concrete, b"null")
            if (method, path) in LIST_BODIES:
                assert null[0] == 400 and "null" in null[1]["error"]["message"], (method, path, null)
            else:
                listed = _answer(api, method, concrete, b"[]")
                assert null == listed, (method, path, null, listed)
            assert null[0] != 500, (method, path)
            if null[0] == 400:
                assert null[1]["error"]["code"] == "VALIDATION_ERROR", (method, path, null)
                assert "No data provided" not in str(null[1]), (method, path, null)
                compared.append((method, path))
    assert len(compared) >= 10, compared  # every JSON-bodied write but the MIF import
