"""Tool arguments within the body limit cannot make ``tools/call`` do (or answer) work in proportion
to their item count: an array longer than its ``maxItems`` is refused by that alone, its items
unchecked, and an object names at most ``UNKNOWN_FIELDS_NAMED`` of its unknown keys, then counts them
(as the REST bodies do). Before, ``what_works`` of 300,000 numbers (600 KB) took 8.6 s and
answered 28 MB, one error per item, and 60,000 unknown arguments answered 3.8 MB."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from apps.mcp.tests.conftest import LATEST_VERSION
from synchronex.api.serializers import UNKNOWN_FIELDS_NAMED

pytestmark = pytest.mark.django_db

ITEMS = 5_000


@pytest.fixture
def refused(make_user, make_key):
    client = APIClient()
    headers = {
        "HTTP_AUTHORIZATION": f"Bearer {make_key(make_user(tier='pro'))}",
        "HTTP_ACCEPT": "application/json, text/event-stream",
        "HTTP_MCP_PROTOCOL_VERSION": LATEST_VERSION,
    }

    def call(name: str, arguments: dict) -> dict:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        response = client.post("/mcp", data=json.dumps(body), content_type="application/json", **headers)
        assert response.status_code == 200, response.content[:300]
        result = response.json()["result"]
        assert result["isError"] is True
        error = json.loads(result["content"][0]["text"])["error"]
        assert error["code"] == "VALIDATION_ERROR"
        return error["details"]["fields"]

    return call


def test_an_array_over_its_max_items_is_refused_by_its_length_alone(refused):
    fields = refused("update_product_state", {"product_name": "Atlas", "what_works": [0] * ITEMS})
    assert fields == {"what_works": ["At most 100 items."]}


def test_unknown_arguments_are_named_up_to_a_bound_and_counted(refused):
    unknown = {f"x{i:05}": 0 for i in range(ITEMS)}
    fields = refused("update_product_state", {"product_name": "Atlas", **unknown})
    named = [name for name, messages in fields.items() if messages == ["Unknown field."]]
    assert named == [f"x{i:05}" for i in range(UNKNOWN_FIELDS_NAMED)]
    counted = f"{ITEMS} unknown fields in all; the first {UNKNOWN_FIELDS_NAMED} (in sorted order) are named."
    assert fields["arguments"] == [counted]


def test_a_few_unknown_arguments_are_all_named_as_before(refused):
    fields = refused("update_product_state", {"product_name": "Atlas", "b": 1, "a": 2})
    assert fields == {"a": ["Unknown field."], "b": ["Unknown field."]}
