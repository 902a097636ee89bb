"""Summaries are aggregated in SQL (a fixed number of queries); the admin lists events with totals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.costs.models import CostEvent
from apps.costs.services import cost_event_record
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

URL = "/api/v1/ai/costs"


def seed(space, n: int) -> None:
    product = product_ensure(space=space, name="Alpha")
    for i in range(n):
        cost_event_record(
            space=space,
            product=product if i % 2 else None,
            provider=("openai", "anthropic", "acme")[i % 3],
            model=f"m{i % 4}",
            operation=("chat", "embedding")[i % 2],
            input_tokens=i,
            output_tokens=1,
            cost_usd=Decimal("0.5"),
            occurred_at=timezone.now() - timedelta(days=i % 20),
        )


def cost_queries(client, path, django_assert_max_num_queries) -> list[str]:
    """The statements reading cost events during one request."""
    with django_assert_max_num_queries(12) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries if '"costs_costevent"' in q["sql"]]


@pytest.mark.parametrize(("path", "expected"), [(URL, 1), (f"{URL}/Alpha", 1)])
def test_the_number_of_queries_does_not_grow_with_events(
    inproc_for, make_user, path, expected, django_assert_max_num_queries
):
    few, many = make_user(tier="pro"), make_user(tier="pro")
    seed(space_ensure_personal(user=few), 2)
    seed(space_ensure_personal(user=many), 60)
    # Totals, by_product, by_provider, by_model, daily (and by_operation): one GROUPING SETS query.
    assert len(cost_queries(inproc_for(few, "read"), path, django_assert_max_num_queries)) == expected
    assert len(cost_queries(inproc_for(many, "read"), path, django_assert_max_num_queries)) == expected


def test_admin_lists_events_by_date_with_totals_read_only(admin_client, user):
    space = space_ensure_personal(user=user)
    seed(space, 4)
    cost_event_record(space=space, provider="acme", model="unknown-thing", input_tokens=7, output_tokens=0)
    page = admin_client.get("/admin/costs/costevent/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Totals of the 5 matching events" in html
    assert "USD 2.000000" in html and "13 input and 4 output tokens" in html and "1 unpriced" in html
    assert "occurred_at__" in html  # the date hierarchy's links
    filtered = admin_client.get("/admin/costs/costevent/?provider=openai").content.decode()
    assert "Totals of the 2 matching events" in filtered and "USD 1.000000" in filtered
    event = CostEvent.objects.first()
    assert admin_client.get(f"/admin/costs/costevent/{event.pk}/change/").status_code == 200
    assert admin_client.get("/admin/costs/costevent/add/").status_code == 403
