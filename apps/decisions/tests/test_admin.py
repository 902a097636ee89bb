"""The admin lists, searches and filters decisions and product states."""

from __future__ import annotations

import pytest

from apps.decisions.services import decision_create
from apps.products.services import product_state_write
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(user):
    space = space_ensure_personal(user=user)
    product_state_write(space=space, name="Atlas", changes={"status": "blocked"})
    old = decision_create(space=space, decision="Host on Heroku", product_name="Atlas", tags=["hosting"])
    new = decision_create(
        space=space, decision="Host on Fly.io", product_name="Billing", tags=["infra"], supersedes=old.id
    )
    return old, new


def test_decision_changelist_searches_and_filters(admin_client, rows):
    old, new = rows
    page = admin_client.get("/admin/decisions/decision/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Host on Heroku" in body and "Host on Fly.io" in body
    assert "Host on Fly.io" not in admin_client.get("/admin/decisions/decision/?q=heroku").content.decode()
    assert "Host on Heroku" not in admin_client.get("/admin/decisions/decision/?tag=infra").content.decode()
    by_product = admin_client.get(f"/admin/decisions/decision/?product__id__exact={new.product_id}").content.decode()
    assert "Host on Fly.io" in by_product and "Host on Heroku" not in by_product
    assert admin_client.get(f"/admin/decisions/decision/?decided_at__year={old.decided_at.year}").status_code == 200
    assert admin_client.get(f"/admin/decisions/decision/{old.pk}/change/").status_code == 200


def test_product_changelist_filters_by_status(admin_client, rows):
    body = admin_client.get("/admin/products/productstate/?status__exact=blocked").content.decode()
    assert "Atlas" in body and "Billing" not in body
    assert admin_client.get("/admin/products/productstate/?q=bill").status_code == 200
