"""A body within the size limit cannot make the API do (or answer) work in proportion to its item
count past the bounds: a list or map longer than its bound is refused by its length before any item
is checked, and the unknown fields of an object are named up to ``UNKNOWN_FIELDS_NAMED``.

Before, ``{"what_works": [0, 0, …]}`` (300,000 numbers, 600 KB) took about 25 s of a web worker
and answered 13 MB, one "Not a valid string." per item, and an object with 100,000 unknown keys
answered 3.5 MB naming each one.
"""

from __future__ import annotations

import json

import pytest

from synchronex.api.serializers import UNKNOWN_FIELDS_NAMED

pytestmark = pytest.mark.django_db

ITEMS = 5_000


@pytest.fixture
def client(inproc_for, make_user):
    return inproc_for(make_user(tier="pro"))


def send(client, method: str, path: str, body) -> dict:
    response = getattr(client, method)(path, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]["fields"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "bound"),
    [
        ("post", "/api/v1/memory/product/Atlas/state", {"what_works": [0] * ITEMS}, "what_works", 100),
        ("post", "/api/v1/memory/product/Atlas/state", {"open_questions": [None] * ITEMS}, "open_questions", 100),
        ("post", "/api/v1/memory/decisions", {"decision": "d", "product_name": "p", "tags": [0] * ITEMS}, "tags", 20),
        (
            "post",
            "/api/v1/memory/decisions",
            {"decision": "d", "product_name": "p", "affects_products": [""] * ITEMS},
            "affects_products",
            20,
        ),
        (
            "post",
            "/api/v1/ingest/Atlas",
            {"type": "decision", "title": "t", "data": {"alternatives": [0] * ITEMS}},
            "data.alternatives",
            20,
        ),
        ("put", "/api/v1/memory/identity", {"constraints": {"always": [0] * ITEMS}}, "constraints.always", 50),
        (
            "put",
            "/api/v1/memory/identity",
            {"model_preferences": {"providers": [0] * ITEMS}},
            "model_preferences.providers",
            20,
        ),
    ],
)
def test_a_list_over_its_bound_is_refused_by_its_length_alone(client, method, path, body, field, bound):
    fields = send(client, method, path, body)
    assert fields == {field: [f"Ensure this field has no more than {bound} elements."]}


def test_a_routing_map_over_its_bound_is_refused_by_its_size_alone(client):
    routing = {f"task{i}": 0 for i in range(ITEMS)}
    fields = send(client, "put", "/api/v1/memory/identity", {"model_preferences": {"routing": routing}})
    assert fields == {"model_preferences.routing": ["Ensure this field has no more than 20 entries."]}


@pytest.mark.parametrize(
    ("method", "path", "section"),
    [("post", "/api/v1/memory/decisions", None), ("put", "/api/v1/memory/identity", "identity")],
)
def test_unknown_fields_are_named_up_to_a_bound_and_counted(client, method, path, section):
    unknown = {f"x{i:05}": 0 for i in range(ITEMS)}
    prefix = f"{section}." if section else ""
    fields = send(client, method, path, {section: unknown} if section else unknown)
    named = [name for name, messages in fields.items() if messages == ["Unknown field."]]
    assert named == [f"{prefix}x{i:05}" for i in range(UNKNOWN_FIELDS_NAMED)]
    counted = f"{ITEMS} unknown fields in all; the first {UNKNOWN_FIELDS_NAMED} (in sorted order) are named."
    assert fields[f"{prefix}non_field_errors"] == [counted]


def test_a_few_unknown_fields_are_all_named_as_before(client):
    fields = send(client, "post", "/api/v1/memory/decisions", {"decision": "d", "product_name": "p", "b": 1, "a": 2})
    assert fields == {"a": ["Unknown field."], "b": ["Unknown field."]}
