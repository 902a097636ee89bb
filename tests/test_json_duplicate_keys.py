"""A JSON object that repeats a key is refused, at any depth, on REST and MCP alike: which of the
two values was meant cannot be known (Python would keep the last one silently)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from apps.mcp.tests.conftest import Mcp
from synchronex.api.parsers import JsonRefused, loads_strict

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_repeated_key_in_a_rest_body_is_a_validation_error_naming_it(write_api):
    body = f'{{"workspace_id": "{uuid.uuid4()}", "workspace_id": null}}'
    response = write_api.patch("/api/v1/scope", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and '"workspace_id"' in error["message"]
    assert write_api.get("/api/v1/scope").json()["scope"] == "personal"


def test_a_repeated_key_deep_inside_a_body_is_refused_too(write_api):
    body = '{"what_works": ["a"], "status": "active", "x": [{"inner": {"k": 1, "k": 2}}]}'
    response = write_api.post(
        "/api/v1/memory/product/Atlas/state", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and '"k"' in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "text,key",
    [('{"a": 1, "a": 1}', "a"), ('[{"b": {"c": 0, "c": 0}}]', "c"), ('{"\\u00e9": 1, "é": 2}', "é")],
)
def test_loads_strict_refuses_repeated_keys_at_any_depth(text, key):
    with pytest.raises(JsonRefused, match=re.escape(json.dumps(key))):
        loads_strict(text)


def test_the_same_key_in_sibling_objects_is_fine():
    assert loads_strict('[{"a": 1}, {"a": 2, "b": {"a": 3}}]') == [{"a": 1}, {"a": 2, "b": {"a": 3}}]


def test_a_repeated_key_in_an_mcp_message_is_a_parse_error(base_url, make_key, person):
    mcp = Mcp(base_url, make_key(person))
    body = (
        '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "update_product_state", '
        '"arguments": {"product_name": "Atlas", "status": "active", "status": "archived"}}}'
    )
    response = mcp.post(data=body.encode())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == -32700 and '"status"' in error["message"]
