"""A JSON integer of more digits than Python reads (``sys.get_int_max_str_digits()``, 4,300) is
refused as the body's VALIDATION_ERROR in the API's own words: the message used to be Python's,
which tells the client to call ``sys.set_int_max_str_digits()``."""

from __future__ import annotations

import json
import sys

import pytest

from apps.decisions.models import Decision
from synchronex.api.parsers import JsonRefused, loads_strict

pytestmark = pytest.mark.django_db

DIGITS = sys.get_int_max_str_digits()


def test_loads_strict_refuses_an_integer_longer_than_python_reads():
    with pytest.raises(JsonRefused, match=f"an integer of more than {DIGITS} digits"):
        loads_strict('{"n": ' + "9" * (DIGITS + 1) + "}")
    assert loads_strict('{"n": ' + "9" * DIGITS + "}") == {"n": int("9" * DIGITS)}


def test_the_api_answers_it_without_python_advice(inproc_for, make_user):
    client = inproc_for(make_user(tier="pro"))
    body = '{"decision": "d", "product_name": "p", "reasoning": ' + "1" * (DIGITS + 1) + "}"
    response = client.post("/api/v1/memory/decisions", data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["message"] == f"Malformed request body: JSON holds an integer of more than {DIGITS} digits"
    assert "sys." not in json.dumps(error)
    assert not Decision.objects.exists()
