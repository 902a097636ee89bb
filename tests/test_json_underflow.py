"""A JSON number that is not zero but reads as 0.0 (``1e-400``, below the smallest double) is
refused as a VALIDATION_ERROR for the whole body, as a number beyond a double (``1e400``) is:
it was stored as 0 without a word."""

from __future__ import annotations

import json

import pytest

from synchronex.api.parsers import JsonRefused, loads_strict

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("literal", ["1e-400", "-1e-400", "0.1e-330", "2.4E-324", "10.5e-99999"])
def test_loads_strict_refuses_a_non_zero_number_that_reads_as_zero(literal):
    with pytest.raises(JsonRefused, match="too small for a double"):
        loads_strict(f'{{"v": [{literal}]}}')


@pytest.mark.parametrize(
    "literal", ["0.0", "-0.0", "0e10", "0.000E-999", "-0e-5000001", "5e-324", "2.2250738585072014e-308"]
)
def test_loads_strict_takes_zero_and_the_smallest_doubles(literal):
    (value,) = loads_strict(f"[{literal}]")
    assert value == float(literal)


@pytest.fixture
def client(inproc_for, make_user):
    return inproc_for(make_user(tier="pro"))


@pytest.mark.parametrize("literal", ["1e400", "1e-400"])
def test_a_body_with_a_number_out_of_a_doubles_range_is_a_validation_error(client, literal):
    body = json.dumps({"type": "note", "title": "t", "data": {"n": 0.5}}).replace("0.5", literal)
    response = client.post("/api/v1/ingest/Atlas", data=body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert literal in error["message"]
    assert client.get("/api/v1/memory/products").json()["count"] == 0
