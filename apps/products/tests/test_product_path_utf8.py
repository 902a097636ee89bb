"""A product path segment that is not UTF-8 is refused, not turned into a name made of its escapes."""

from __future__ import annotations

import pytest

from apps.products.models import ProductState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("segment", ["Caf%E9", "%FF", "%ED%A0%80", "ok%C3"])
def test_a_path_that_is_not_utf8_is_a_validation_error(write_api, segment):
    path = f"/api/v1/memory/product/{segment}/state"
    for response in (write_api.post(path, json={}), write_api.get(path)):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and list(error["details"]["fields"]) == ["name"]
    assert not ProductState.objects.exists()


def test_a_percent_sign_and_utf8_escapes_still_name_products(write_api):
    assert write_api.post("/api/v1/memory/product/Caf%25E9/state", json={}).json()["name"] == "Caf%E9"
    assert write_api.post("/api/v1/memory/product/Caf%C3%A9/state", json={}).json()["name"] == "Café"


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [("post", "/api/v1/ingest/{}", "project_id"), ("get", "/api/v1/ai/costs/{}", "product")],
    ids=["ingest", "costs of a product"],
)
def test_other_routes_naming_a_product_in_the_path_refuse_it_too(make_user, client_for, method, path, field):
    client = client_for(make_user(tier="pro"), "write")
    body = {"type": "note", "title": "Shipped"} if method == "post" else None
    response = client.request(method.upper(), path.format("Caf%E9"), json=body)
    assert response.status_code == 400, response.text
    assert list(response.json()["error"]["details"]["fields"]) == [field]
    assert not ProductState.objects.exists()
    response = client.request(method.upper(), path.format("Caf%C3%A9"), json=body)
    assert response.status_code in (202, 404), response.text  # a name (ingest creates it; costs knows none)
