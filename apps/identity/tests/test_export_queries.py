"""What the kernel export asks the database for."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.decisions.services import decision_create
from apps.identity.export import MAX_EXCLUSION_CHARS
from apps.memory.tests.test_search_work import function_calls
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


def test_a_task_of_many_exclusions_keeps_those_of_its_first_200_characters_and_corrects_none(user, inproc_for):
    space = space_ensure_personal(user=user)
    for text in ("Adopt alpha for builds", "Adopt alpha for w00003", "Adopt alpha for w02000", "Keep w00000 around"):
        decision_create(space=space, decision=text, product_name="Engine")
    # 2,499 exclusions (20,000 characters). The search as written keeps those of the first
    # MAX_EXCLUSION_CHARS characters, as the search by words does, and corrects none: each was
    # compared with "w00000", close to it, and rewrote the whole query (10–25 s).
    task = "alpha" + "".join(f" -w{i:05d}" for i in range(2_499))
    assert len(task) <= 20_000 and "-w00003" in task[:MAX_EXCLUSION_CHARS]
    client = inproc_for(user, "read")
    with function_calls() as calls:
        response = client.post(URL, {"format": "json", "task": task}, format="json")
    assert response.status_code == 200, response.content
    section = next(s for s in response.json()["sections"] if s["kind"] == "decisions")
    assert "Adopt alpha for builds" in section["content"] and "Adopt alpha for w02000" in section["content"]
    assert "w00003" not in section["content"] and "Keep w00000" not in section["content"]
    assert calls.get("word_similarity", 0) == 0
