"""A deploy's outcome at consolidation (README's signal rules): only a successful deploy says
something works; a cancelled one, like a cancelled ci run, changes nothing. Signals and states go
over real HTTP; the job runs in this process, as in test_consolidation_steps."""

from __future__ import annotations

import pytest

from apps.ingest.models import Signal
from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]

STATE = "/api/v1/memory/product/Canc/state"


def ingest(client, signal: dict) -> None:
    response = client.post("/api/v1/ingest/Canc", json=signal)
    assert response.status_code == 202, response.text


def test_a_cancelled_deploy_changes_nothing_and_is_ignored(user, write_api, read_api):
    assert write_api.post(STATE, json={"status": "paused"}).status_code in (200, 201)
    ingest(write_api, {"type": "deploy", "title": "Deploy v7 to production", "data": {"outcome": "cancelled"}})
    ingest(write_api, {"type": "ci", "title": "Build v7", "data": {"outcome": "cancelled"}})
    stats = consolidate(space_ensure_personal(user=user))
    assert stats["signals_applied"] == 0 and stats["signals_ignored"] == 2
    state = read_api.get(STATE).json()
    assert state["status"] == "paused"
    assert state["what_works"] == [] and state["what_is_blocked"] == []
    assert set(Signal.objects.values_list("status", flat=True)) == {"ignored"}

    # A successful deploy (the default outcome) still reactivates and joins what_works.
    ingest(write_api, {"type": "deploy", "title": "Deploy v8 to production"})
    assert consolidate(space_ensure_personal(user=user))["signals_applied"] == 1
    state = read_api.get(STATE).json()
    assert state["status"] == "active" and state["what_works"] == ["Deploy v8 to production"]
