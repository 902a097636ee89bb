"""Every ``product`` parameter that names a product follows the one product-name rule
(``apps.products.names``): NFC, trimmed, then 1–100 characters without control, bidi or invisible
characters. A name the state route finds is found by every other route, and a name it refuses
every other route refuses the same way (VALIDATION_ERROR on ``product``), over real HTTP."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

# 100 characters in NFC, 200 code points as sent.
LONG_NFD = unicodedata.normalize("NFD", "\u00e9" * 100)
BLANK = "A product name may not be blank."
CONTROL = "A product name may not contain control characters."


def decision_search(client, product):
    return client.get("/api/v1/memory/decisions/search", params={"q": "pricing", "product": product})


def memory_search(client, product):
    return client.get("/api/v1/memory/search", params={"q": "pricing", "product": product})


def export_get(client, product):
    return client.get("/api/v1/kernel/export", params={"product": product})


def export_post(client, product):
    return client.post("/api/v1/kernel/export", json={"product": product})


def costs(client, product):
    return client.get(f"/api/v1/ai/costs/{quote(product, safe='')}")


ROUTES = [decision_search, memory_search, export_get, export_post, costs]


def problems(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]["fields"]


@pytest.mark.parametrize("route", ROUTES)
def test_a_name_counted_in_nfc_characters_is_found(write_api, route):
    created = write_api.post(f"/api/v1/memory/product/{quote(LONG_NFD, safe='')}/state", json={})
    assert created.status_code == 201, created.text
    response = route(write_api, LONG_NFD)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a\x01b", CONTROL),
        ("   ", BLANK),
        ("\u200b", BLANK),
        ("x" * 101, "A product name has at most 100 characters."),
    ],
)
def test_an_impossible_name_is_a_validation_error_on_product(write_api, route, name, problem):
    assert problems(route(write_api, name)) == {"product": [problem]}


def test_an_empty_export_product_still_means_none(write_api):
    assert export_get(write_api, "").status_code == 200
    assert export_post(write_api, "").status_code == 200
    assert export_post(write_api, None).status_code == 200
