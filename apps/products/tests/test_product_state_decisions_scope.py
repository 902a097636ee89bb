"""Product state's ``recent_decisions`` are decisions: only tokens with decisions:read see them (SPEC §2)."""

from __future__ import annotations

import pytest

from apps.products.tests.test_product_state_api import state_path

pytestmark = pytest.mark.django_db(transaction=True)


def test_product_state_shows_recent_decisions_only_to_tokens_with_decisions_read(oauth_for, person, client_for):
    client_for(person).post("/api/v1/memory/decisions", json={"decision": "Use Postgres", "product_name": "Atlas"})
    without = oauth_for("memory:read memory:write")
    with_read = oauth_for("memory:read decisions:read")

    read = without.get(state_path("Atlas"))
    assert read.status_code == 200, read.text
    assert read.json()["recent_decisions"] == []
    written = without.post(state_path("Atlas"), json={"status": "paused"})
    assert written.status_code == 200, written.text
    assert written.json()["recent_decisions"] == [] and written.json()["status"] == "paused"

    allowed = with_read.get(state_path("Atlas"))
    assert [d["decision"] for d in allowed.json()["recent_decisions"]] == ["Use Postgres"]
