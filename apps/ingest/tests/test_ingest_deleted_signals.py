"""A signal deleted in the admin keeps its ``external_id`` taken: what it did (a cost event, a
decision) outlives it, so the same event sent again is a duplicate (SPEC §9), not charged or
decided a second time."""

from __future__ import annotations

import pytest

from apps.decisions.models import Decision
from apps.ingest.models import Signal

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
