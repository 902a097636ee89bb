"""What ingested signals make of a product's state at consolidation (README's signal table): the
session handoff a ``session_summary`` leaves, and which items a full list keeps, whatever batches
the signals came in. Signals and states go over real HTTP; the job runs in this process, as in
apps/memory's consolidation tests."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]

BASE = timezone.now() - timedelta(days=3)


def at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


def ingest(client, project: str, *signals: dict) -> None:
    for start in range(0, len(signals), 100):  # a batch holds up to 100; they apply by occurred_at
        batch = {"signals": list(signals[start : start + 100])}
        response = client.post(f"/api/v1/ingest/{quote(project, safe='')}", json=batch)
        assert response.status_code == 202, response.text


def state(client, project: str) -> dict:
    response = client.get(f"/api/v1/memory/product/{quote(project, safe='')}/state")
    assert response.status_code == 200, response.text
    return response.json()


def summary(body: str, when: int, **data) -> dict:
    return {"type": "session_summary", "body": body, "data": data, "occurred_at": at(when)}


def handoff(client, project: str) -> tuple[str, str]:
    product = state(client, project)
    return product["last_session_summary"], product["next_session_starts_here"]


# -- session_summary: the summary and the handoff ---------------------------------------------------
def test_a_summary_without_a_handoff_becomes_the_handoff_as_with_end_session(user, write_api, read_api):
    """The probe's case: Friday's summary must not be paired with Monday's handoff."""
    space = space_ensure_personal(user=user)
    ingest(write_api, "Handoff", summary("Mon: wired up webhooks.", 0, next_session_starts_here="Retry test (Mon)."))
    consolidate(space)
    assert handoff(read_api, "Handoff") == ("Mon: wired up webhooks.", "Retry test (Mon).")

    ingest(write_api, "Handoff", summary("Fri: webhooks shipped; on to invoices.", 10))
    consolidate(space)
    # MCP end_session's rule: without next_session_starts_here, the summary is the handoff.
    assert handoff(read_api, "Handoff") == ("Fri: webhooks shipped; on to invoices.",) * 2


def test_an_empty_handoff_clears_it_and_a_given_one_is_kept(user, write_api, read_api):
    space = space_ensure_personal(user=user)
    ingest(write_api, "Handoff", summary("Mon", 0, next_session_starts_here="Start with the retry test"))
    ingest(write_api, "Handoff", summary("Tue", 1, next_session_starts_here=""))
    consolidate(space)
    assert handoff(read_api, "Handoff") == ("Tue", "")

    ingest(write_api, "Handoff", summary("Wed", 2, next_session_starts_here=None))  # null: not given
    consolidate(space)
    assert handoff(read_api, "Handoff") == ("Wed", "Wed")


@pytest.mark.parametrize(
    "late_data", [{}, {"next_session_starts_here": "Begin the auth rewrite"}], ids=["without_handoff", "with_handoff"]
)
def test_a_late_older_summary_changes_neither_field_of_a_newer_one(user, write_api, read_api, late_data):
    """README's order rule, for both fields at once: whether or not either summary names a handoff,
    an older summary arriving after a newer one was applied leaves the newer one's summary and
    handoff; one batch gives the same."""
    space = space_ensure_personal(user=user)
    late = summary("OLD: started auth", 0, **late_data)
    ingest(write_api, "Split", summary("NEW: auth shipped", 5))
    consolidate(space)
    ingest(write_api, "Split", late)
    ingest(write_api, "Whole", summary("NEW: auth shipped", 5), late)
    consolidate(space)
    assert handoff(read_api, "Split") == handoff(read_api, "Whole") == ("NEW: auth shipped",) * 2


# -- the 100-item cap -------------------------------------------------------------------------------
def errors(first: int, last: int) -> list[dict]:
    return [{"type": "error", "title": f"E{n}", "occurred_at": at(n)} for n in range(first, last + 1)]


def test_a_full_list_drops_its_oldest_items_however_the_signals_were_batched(user, write_api, read_api):
    """The probe's case: 100 errors, and a blocker older than all of them. Sent before the errors
    were consolidated or after, it is the item a full list drops, not the oldest error."""
    space = space_ensure_personal(user=user)
    blocker = {"type": "blocker", "title": "Payments provider down", "occurred_at": at(1)}
    ingest(write_api, "CapA", blocker)
    ingest(write_api, "CapA", *errors(2, 101))
    ingest(write_api, "CapB", *errors(2, 101))
    consolidate(space)
    ingest(write_api, "CapB", blocker)
    consolidate(space)

    whole, split = state(read_api, "CapA")["what_is_blocked"], state(read_api, "CapB")["what_is_blocked"]
    assert whole == split == [f"E{n}" for n in range(2, 102)]


def test_a_late_item_takes_its_place_by_occurred_at_before_the_list_is_trimmed(user, write_api, read_api):
    """A late item newer than some of a full list's items keeps its place among them: the
    oldest goes, and the list is the same, in the same order, as from one batch."""
    space = space_ensure_personal(user=user)
    between = (BASE + timedelta(minutes=50, seconds=30)).isoformat()  # after E50, before E51
    late = {"type": "blocker", "title": "Payments provider down", "occurred_at": between}
    ingest(write_api, "Split", *errors(1, 100))
    consolidate(space)
    ingest(write_api, "Split", late)
    ingest(write_api, "Whole", *errors(1, 100), late)
    consolidate(space)

    expected = [*(f"E{n}" for n in range(2, 51)), "Payments provider down", *(f"E{n}" for n in range(51, 101))]
    assert state(read_api, "Split")["what_is_blocked"] == state(read_api, "Whole")["what_is_blocked"] == expected


def test_an_item_reported_again_counts_from_its_newest_signal(user, write_api, read_api):
    """An item's age is its newest signal's: an error that recurs is not the oldest item, however
    long ago it first occurred; it moves to its newest signal's place."""
    space = space_ensure_personal(user=user)
    again = {"type": "error", "title": "e1", "occurred_at": at(200)}
    newest = {"type": "error", "title": "E101", "occurred_at": at(201)}
    ingest(write_api, "Split", *errors(1, 100), again)
    consolidate(space)
    ingest(write_api, "Split", newest)
    ingest(write_api, "Whole", *errors(1, 100), again, newest)
    consolidate(space)

    expected = [*(f"E{n}" for n in range(3, 101)), "E1", "E101"]  # E2 was the oldest when E101 came
    assert state(read_api, "Split")["what_is_blocked"] == state(read_api, "Whole")["what_is_blocked"] == expected


def test_a_late_question_older_than_a_full_list_is_the_one_dropped(user, write_api, read_api):
    space = space_ensure_personal(user=user)
    questions = [{"type": "question", "title": f"Q{n}?", "occurred_at": at(n)} for n in range(2, 102)]
    old_question = {"type": "question", "title": "Annual plans?", "occurred_at": at(1)}
    ingest(write_api, "Split", *questions)
    ingest(write_api, "Whole", *questions, old_question)
    consolidate(space)
    ingest(write_api, "Split", old_question)
    consolidate(space)

    expected = [f"Q{n}?" for n in range(2, 102)]
    assert state(read_api, "Split")["open_questions"] == state(read_api, "Whole")["open_questions"] == expected
