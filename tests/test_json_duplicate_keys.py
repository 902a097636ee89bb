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


# -- MIF import reads its own body (per-memory limits), with the same rule --------------------------
IMPORT = "/api/v1/memory/import-mif"


def _memory(content: str) -> str:
    return f'{{"id": "{uuid.uuid4()}", "content": "{content}", "created_at": "2026-01-01T00:00:00Z"}}'


@pytest.mark.parametrize(
    ("body", "key"),
    [
        # Python kept the last ``memories`` (empty) and reported a success that imported nothing.
        (f'{{"mif_version": "2.0", "memories": [{_memory("first run")}], "memories": []}}', "memories"),
        ('{"mif_version": "2.0", "memories": [' + _memory("dup A")[:-1] + ', "content": "dup B"}]}', "content"),
    ],
)
def test_a_repeated_key_in_an_import_refuses_the_whole_document_naming_it(write_api, body, key):
    response = write_api.post(IMPORT, data=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and json.dumps(key) in error["message"], error
    assert write_api.get("/api/v1/memory/search?q=dup").json()["count"] == 0
    assert write_api.get("/api/v1/memory/search?q=first").json()["count"] == 0


def test_a_repeated_key_on_a_jsonl_line_is_that_lines_error(write_api):
    body = (
        '{"type": "entity", "name": "Ada", "entityType": "person", "observations": ["likes tea"]}\n'
        '{"type": "entity", "name": "Bob", "name": "Eve", "entityType": "person", "observations": ["x"]}\n'
    )
    response = write_api.post(IMPORT, data=body.encode(), headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["memories_imported"] == 1 and report["errors_total"] == 1, report
    assert report["errors"][0]["index"] == 1 and '"name"' in report["errors"][0]["message"]


def test_a_repeated_key_in_an_mcp_import_document_is_refused_too(base_url, make_key, person):
    mcp = Mcp(base_url, make_key(person))
    document = f'{{"mif_version": "2.0", "memories": [{_memory("over mcp")}], "memories": []}}'
    error = mcp.tool_error("import_memories", {"document": document})
    assert error["code"] == "VALIDATION_ERROR" and '"memories"' in error["message"], error
