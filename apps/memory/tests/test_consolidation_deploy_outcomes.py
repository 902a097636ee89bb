"""A deploy's outcome at consolidation (README's signal rules): only a successful deploy says
something works; a cancelled one, like a cancelled ci run, changes nothing. Signals and states go
over real HTTP; the job runs in this process, as in test_consolidation_steps."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.ingest.models import Signal
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.scopes.services import space_ensure_personal
from tests.support.workers import publishing_to, sqla_broker_url

pytestmark = pytest.mark.django_db(transaction=True)

STATE = "/api/v1/memory/product/Canc/state"


@pytest.fixture(autouse=True)
def test_broker(transactional_db):
    """Queued jobs go to the test database's broker (no worker reads it)."""
    with publishing_to(sqla_broker_url(connection.settings_dict)):
        yield


def consolidate(user) -> dict:
    job, created = consolidation_job_request(space=space_ensure_personal(user=user))
    assert created
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    job.refresh_from_db()
    return job.stats


def ingest(client, signal: dict) -> None:
    response = client.post("/api/v1/ingest/Canc", json=signal)
    assert response.status_code == 202, response.text


def test_a_cancelled_deploy_changes_nothing_and_is_ignored(user, write_api, read_api):
    assert write_api.post(STATE, json={"status": "paused"}).status_code in (200, 201)
    ingest(write_api, {"type": "deploy", "title": "Deploy v7 to production", "data": {"outcome": "cancelled"}})
    ingest(write_api, {"type": "ci", "title": "Build v7", "data": {"outcome": "cancelled"}})
    stats = consolidate(user)
    assert stats["signals_applied"] == 0 and stats["signals_ignored"] == 2
    state = read_api.get(STATE).json()
    assert state["status"] == "paused"
    assert state["what_works"] == [] and state["what_is_blocked"] == []
    assert set(Signal.objects.values_list("status", flat=True)) == {"ignored"}

    # A successful deploy (the default outcome) still reactivates and joins what_works.
    ingest(write_api, {"type": "deploy", "title": "Deploy v8 to production"})
    assert consolidate(user)["signals_applied"] == 1
    state = read_api.get(STATE).json()
    assert state["status"] == "active" and state["what_works"] == ["Deploy v8 to production"]
