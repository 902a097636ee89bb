"""A value sent where the API takes one of a set of names (a status, a role, a type, a service, a
format...) is never quoted back: a key pasted into the wrong field would be sent back, and kept with
the 400 for Idempotency-Key replays (SPEC §9: a secret never appears in an error). Asked of the
server for every enum the OpenAPI document declares, in bodies (at any depth) and in queries; the
error names the choices instead, as the MCP tools' errors do."""

from __future__ import annotations

import re
import uuid

import pytest

from synchronex.api.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sk-proj-" + "Qw9" * 16
SENT_AS = [SECRET, [SECRET], {"k": SECRET}]


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for combined in ("allOf", "oneOf", "anyOf"):
        # An object's own ``allOf`` adds rules beside its properties (``schema_constraints``): not the schema.
        if combined in schema and len(schema[combined]) >= 1 and "properties" not in schema:
            parts = [_resolve(document, part) for part in schema[combined]]
            enum = [part for part in parts if "enum" in part]
            if enum:
                return enum[0]
            if len(schema[combined]) == 1:
                return parts[0]
    return schema


def _bodies(document: dict, schema: dict, depth: int = 0):
    """Each way to put a SECRET where an enum is, one place at a time: (field path, body)."""
    schema = _resolve(document, schema)
    if "enum" in schema:
        for value in SENT_AS:
            yield "", value
        return
    if depth > 4:
        return
    if "properties" not in schema and ("oneOf" in schema or "anyOf" in schema):  # one body or a batch
        for part in schema.get("oneOf", schema.get("anyOf")):
            yield from _bodies(document, part, depth + 1)
    elif schema.get("type") == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            for path, value in _bodies(document, sub, depth + 1):
                yield f"{name}{path and '.' + path}", {name: value}
    elif schema.get("type") == "array" and "items" in schema:
        for path, value in _bodies(document, schema["items"], depth + 1):
            yield f"[0]{path and '.' + path}", [value]


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else "atlas", path)


def test_no_enum_in_a_body_or_a_query_quotes_the_value_sent(client_for, make_user):
    api = client_for(make_user(tier="team"))
    api.post("/api/v1/memory/product/atlas/state", json={"status": "active"})
    document = api.get("/api/v1/openapi.json").json()
    asked = []
    for path, item in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            concrete = _concrete(path)
            body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            for field, body in _bodies(document, body_schema) if body_schema else ():
                key = f"enum-{len(asked)}"
                response = api.request(method.upper(), concrete, json=body, headers={"Idempotency-Key": key})
                asked.append((method, path, field))
                assert response.status_code < 500, (method, path, field, response.text)
                assert SECRET[-12:] not in response.text, (method, path, field, response.text)
                record = IdempotencyRecord.objects.filter(key=key).first()
                assert record is None or SECRET[-12:].encode() not in bytes(record.response_body or b"")
            for parameter in operation.get("parameters", []):
                schema = _resolve(document, parameter.get("schema", {}))
                if parameter.get("in") != "query" or "enum" not in _resolve(document, schema.get("items", schema)):
                    continue
                response = api.request(method.upper(), concrete, params={parameter["name"]: SECRET})
                asked.append((method, path, parameter["name"]))
                assert response.status_code < 500, (method, path, parameter["name"], response.text)
                assert SECRET[-12:] not in response.text, (method, path, parameter["name"], response.text)
    fields = {(method, path, field.split(".")[-1]) for method, path, field in asked}
    for expected in [
        ("post", "/api/v1/byok", "service"),
        ("post", "/api/v1/ingest/{project_id}", "type"),
        ("post", "/api/v1/workspaces/{workspace_id}/members", "role"),
        ("post", "/api/v1/memory/product/{name}/state", "status"),
        ("get", "/api/v1/memory/search", "types"),
        ("get", "/api/v1/kernel/export", "format"),
    ]:
        assert expected in fields, (expected, sorted(fields))
