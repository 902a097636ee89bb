"""A signal deleted in the admin keeps its ``external_id`` taken: what it did (a cost event, a
decision) outlives it, so the same event sent again is a duplicate (SPEC §9), not charged or
decided a second time."""

from __future__ import annotations

import pytest

from apps.decisions.models import Decision
from apps.ingest.models import Signal
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

USAGE = {
    "type": "ai_usage",
    "external_id": "run-43",
    "data": {"provider": "acme", "model": "x", "input_tokens": 1, "output_tokens": 1, "cost_usd": "7"},
}


def ingest(client, body) -> dict:
    response = client.post("/api/v1/ingest/Atlas", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def total_cost(client) -> tuple[float, int]:
    body = client.get("/api/v1/ai/costs/Atlas", params={"days": 1}).json()
    return body["total_cost_usd"], body["requests"]


def test_an_ai_usage_signal_deleted_in_the_admin_is_not_charged_again(write_api, read_api, staff):
    first = ingest(write_api, USAGE)
    assert ingest(write_api, USAGE)["duplicates"] == 1
    assert total_cost(read_api) == (7, 1)
    signal_id = first["signals"][0]["id"]

    page = staff.post(f"/admin/ingest/signal/{signal_id}/delete/", {"post": "yes"})
    assert page.status_code == 302, page.content
    assert not Signal.objects.filter(pk=signal_id).exists()

    again = ingest(write_api, USAGE)
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert again["signals"] == [{"id": signal_id, "type": "ai_usage", "status": "duplicate"}]
    assert total_cost(read_api) == (7, 1)
    assert not Signal.objects.exists()


def test_a_decision_signal_deleted_in_the_admin_does_not_decide_again(write_api, staff):
    body = {"type": "decision", "title": "Use Stripe for billing", "external_id": "d-1"}
    first = ingest(write_api, body)
    page = staff.post(
        "/admin/ingest/signal/",
        {"action": "delete_selected", "_selected_action": [first["signals"][0]["id"]], "post": "yes"},
    )
    assert page.status_code == 302, page.content

    # In a batch with a new signal: the new one is stored, the resent one is not.
    again = ingest(write_api, {"signals": [body, {"type": "note", "title": "new", "external_id": "n-1"}]})
    assert (again["accepted"], again["duplicates"]) == (1, 1)
    assert again["signals"][0] == {"id": first["signals"][0]["id"], "type": "decision", "status": "duplicate"}
    assert Decision.objects.count() == 1
    assert list(Signal.objects.values_list("external_id", flat=True)) == ["n-1"]


DECISION = {"type": "decision", "title": "Use Stripe for billing", "external_id": "d-1"}


def decision_of(client, text: str) -> dict:
    (found,) = client.get("/api/v1/memory/decisions/search", params={"q": text}).json()["results"]
    return found


def consolidate(user) -> dict:
    """One consolidation run of the user's personal space (the worker's task body, in process)."""
    job, created = consolidation_job_request(space=space_ensure_personal(user=user))
    assert created
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    job.refresh_from_db()
    return job.stats


def test_a_decision_deleted_through_the_api_is_not_decided_again_by_its_signal(write_api):
    first = ingest(write_api, DECISION)
    decision = decision_of(write_api, "stripe")
    assert write_api.delete(f"/api/v1/memory/decisions/{decision['id']}").status_code == 204
    assert not Signal.objects.exists()  # the signal held the decision's text: it went with it

    again = ingest(write_api, DECISION)
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert again["signals"] == [{"id": first["signals"][0]["id"], "type": "decision", "status": "duplicate"}]
    assert write_api.get("/api/v1/memory/decisions/search", params={"q": "stripe"}).json()["results"] == []


def test_a_decision_deleted_in_the_admin_is_not_decided_again_by_its_signal(write_api, staff):
    first = ingest(write_api, DECISION)
    decision = decision_of(write_api, "stripe")
    page = staff.post(f"/admin/decisions/decision/{decision['id']}/delete/", {"post": "yes"})
    assert page.status_code == 302, page.content

    again = ingest(write_api, DECISION)
    assert again["signals"] == [{"id": first["signals"][0]["id"], "type": "decision", "status": "duplicate"}]
    assert not Decision.objects.exists()


def test_the_signals_of_merged_copies_deleted_with_their_decision_are_not_decided_again(write_api, user):
    copies = [{**DECISION, "external_id": f"d-{n}", "body": f"reason {n}"} for n in range(3)]
    first = ingest(write_api, {"signals": copies})
    assert consolidate(user)["decisions_merged"] == 2
    survivor = decision_of(write_api, "stripe")
    assert write_api.delete(f"/api/v1/memory/decisions/{survivor['id']}").status_code == 204

    again = ingest(write_api, {"signals": copies})
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert again["signals"] == [{**entry, "status": "duplicate"} for entry in first["signals"]]
    assert not Decision.objects.exists()
