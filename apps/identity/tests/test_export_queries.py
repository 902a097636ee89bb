"""What the kernel export asks the database for."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.decisions.services import decision_create
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

URL = "/api/v1/kernel/export"


def test_the_export_looks_its_product_up_once(user, inproc_for):
    space = space_ensure_personal(user=user)
    decision_create(space=space, decision="Use Postgres for queues", product_name="Engine")
    decision_create(space=space, decision="Cache pages in Redis", product_name="Billing", affects_products=["Engine"])
    client = inproc_for(user, "read")
    # Two words: the search runs twice (the query as written, then its words or-ed).
    params = {"product": " ENGINE ", "query": "postgres cache", "format": "json"}
    assert client.get(URL, params).status_code == 200  # warm up
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL, params)
    assert response.status_code == 200, response.content
    lookups = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT p.id, p.origin_id")]
    assert len(lookups) == 1, lookups
    section = next(s for s in response.json()["sections"] if s["kind"] == "decisions")
    assert "Use Postgres for queues" in section["content"]
    assert "Cache pages in Redis" in section["content"]  # propagated from Billing
