"""GET /api/v1/memory/products: paged, newest activity first, scoped (SPEC §5)."""

from __future__ import annotations

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCTS = "/api/v1/memory/products"


def test_lists_products_newest_activity_first(write_api, read_api):
    for name in ("First", "Second", "Third"):
        write_api.post(f"/api/v1/memory/product/{name}/state", json={})
    write_api.post("/api/v1/memory/product/first/state", json={"status": "paused"})
    body = read_api.get(PRODUCTS).json()
    assert [p["name"] for p in body["results"]] == ["First", "Third", "Second"]
    assert body["count"] == 3 and body["limit"] == 20 and body["offset"] == 0 and body["next_offset"] is None
    assert body["scope"] == "personal"
    first = body["results"][0]
    assert first["status"] == "paused" and first["version"] == 2
    assert set(first) == {
        "name",
        "status",
        "what_works",
        "what_is_blocked",
        "open_questions",
        "next_session_starts_here",
        "last_session_summary",
        "version",
        "created_at",
        "updated_at",
        "last_activity_at",
    }


def test_paging(write_api):
    for i in range(5):
        write_api.post(f"/api/v1/memory/product/P{i}/state", json={})
    page = write_api.get(PRODUCTS, params={"limit": 2, "offset": 2}).json()
    assert [p["name"] for p in page["results"]] == ["P2", "P1"]
    assert page["count"] == 5 and page["next_offset"] == 4
    last = write_api.get(PRODUCTS, params={"limit": 2, "offset": 4}).json()
    assert [p["name"] for p in last["results"]] == ["P0"] and last["next_offset"] is None
    assert write_api.get(PRODUCTS, params={"offset": 99}).json()["results"] == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": -1}])
def test_bad_paging_is_a_validation_error(read_api, params):
    response = read_api.get(PRODUCTS, params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_products_of_other_users_are_invisible(make_user, client_for):
    alice, bob = client_for(make_user()), client_for(make_user())
    alice.post("/api/v1/memory/product/Hidden/state", json={})
    assert bob.get(PRODUCTS).json() == {
        "results": [],
        "count": 0,
        "limit": 20,
        "offset": 0,
        "next_offset": None,
        "scope": "personal",
    }


def test_list_needs_authentication(api):
    assert api.get(PRODUCTS).status_code == 401


def test_query_count_does_not_grow_with_products(user, inproc_for, django_assert_num_queries):
    from apps.products.services import product_state_write
    from apps.scopes.services import space_ensure_personal

    space = space_ensure_personal(user=user)
    client = inproc_for(user, "read")
    client.get(PRODUCTS)  # warm up per-request caches that are not the list's concern
    product_state_write(space=space, name="One", changes={"what_works": ["a"]})
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import ApiKey

    # The key's last-used stamp is written at most once a minute: keep it out of the measurement.
    ApiKey.objects.filter(user=user).update(last_used_at=timezone.now())
    with CaptureQueriesContext(connection) as few:
        assert client.get(PRODUCTS).status_code == 200
    for i in range(30):
        product_state_write(space=space, name=f"P{i}", changes={"open_questions": ["q"]})
    ApiKey.objects.filter(user=user).update(last_used_at=timezone.now())
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(PRODUCTS)
    assert response.status_code == 200 and len(response.json()["results"]) == 20
