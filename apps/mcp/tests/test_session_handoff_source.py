"""Whose session a handoff is told as, and what a session's metadata is stored and served as.

- Two sessions of one product ending at once: the one the handoff names as the last session
  (``last_session``, the newest ``ended_at``) is the one whose summary and handoff the product kept.
- A summary another writer put on the product (an ingested ``session_summary``) is not told as
  the last MCP session's.
- ``metadata``'s 16 KiB count numbers as jsonb stores them (``1e300`` is 301 digits), and
  ``register_session`` answers the metadata that ``GET /api/v1/sessions`` serves.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from apps.mcp import services
from apps.scopes.services import space_ensure_personal
from tests.support.concurrency import on_thread
from tests.support.consolidation import consolidate

pytestmark = pytest.mark.django_db(transaction=True)


def _waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_the_session_named_last_is_the_one_whose_handoff_the_product_kept(mcp, monkeypatch):
    """The probe's race, made certain: the first end is held right after it reads the clock (as a
    thread the OS set aside), while the second end runs. Whatever order the two then write in,
    the session with the later ``ended_at`` must be the one whose summary and handoff stayed."""
    first = mcp.tool("register_session", {"product_name": "Atlas", "agent_name": "first"})
    second = mcp.tool("register_session", {"product_name": "Atlas", "agent_name": "second"})
    turns, clock_read, release = itertools.count(), threading.Event(), threading.Event()

    class HeldClock:
        @staticmethod
        def now():
            moment = timezone.now()
            if next(turns) == 0:
                clock_read.set()
                release.wait(10)
            return moment

    monkeypatch.setattr(services, "timezone", HeldClock)
    outcome: dict = {}

    def end(session: dict, name: str):
        arguments = {"session_id": session["session_id"], "summary": f"{name} summary"}
        return mcp.tool("end_session", {**arguments, "next_session_starts_here": f"{name} handoff"})

    ending_first = on_thread(lambda: end(first, "first"), outcome, "first")
    assert clock_read.wait(10)
    ending_second = on_thread(lambda: end(second, "second"), outcome, "second")
    deadline = time.monotonic() + 10  # the second end finishes, or waits for the first's lock
    while ending_second.is_alive() and not _waits_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.02)
    release.set()
    ending_first.join(10), ending_second.join(10)

    assert isinstance(outcome["first"], dict) and isinstance(outcome["second"], dict), outcome
    handoff = mcp.tool("get_session_handoff", {"product_name": "Atlas"})
    kept = handoff["next_session_starts_here"].removesuffix(" handoff")
    assert handoff["last_session_summary"] == f"{kept} summary"
    assert handoff["last_session"] is not None, handoff
    assert handoff["last_session"]["agent_name"] == kept
    newest = max(outcome.values(), key=lambda ended: ended["ended_at"])
    assert newest["handoff_note"] == handoff["next_session_starts_here"]


@pytest.mark.usefixtures("broker_on_test_database")
def test_an_ingested_summary_is_not_told_as_the_last_sessions(mcp, client_for, person):
    session = mcp.tool("register_session", {"product_name": "Atlas", "agent_name": "claude-code"})
    end = {"session_id": session["session_id"], "summary": "Claude: refactored auth"}
    mcp.tool("end_session", {**end, "next_session_starts_here": "Write auth tests"})
    signal = {"type": "session_summary", "body": "Cursor: migrated DB", "data": {"next_session_starts_here": "Check"}}
    assert client_for(person).post("/api/v1/ingest/Atlas", json=signal).status_code == 202
    consolidate(space_ensure_personal(user=person))

    handoff = mcp.tool("get_session_handoff", {"product_name": "Atlas"})

    assert (handoff["last_session_summary"], handoff["next_session_starts_here"]) == ("Cursor: migrated DB", "Check")
    assert handoff["last_session"] is None
    # A session that ends afterwards wrote the summary again: it is the last session.
    later = mcp.tool("register_session", {"product_name": "Atlas", "agent_name": "cursor"})
    mcp.tool("end_session", {"session_id": later["session_id"], "summary": "Cursor: wrote tests"})
    last = mcp.tool("get_session_handoff", {"product_name": "Atlas"})["last_session"]
    assert (last["session_id"], last["agent_name"]) == (later["session_id"], "cursor")


def test_metadata_numbers_count_as_stored_written_out(mcp):
    """``{"n": [1e300] * 55}`` is 392 bytes of compact JSON as sent and 16,617 as jsonb keeps it (301 digits each):
    refused. 54 of them, 16,315 bytes stored, are accepted."""
    assert mcp.tool("register_session", {"product_name": "Atlas", "metadata": {"n": [1e300] * 54}})

    fields = mcp.argument_errors("register_session", {"product_name": "Atlas", "metadata": {"n": [1e300] * 55}})

    assert fields == {"metadata": ["At most 16384 bytes of JSON."]}


def test_register_session_answers_the_metadata_the_session_list_serves(mcp, client_for, person):
    metadata = {"big": 1.5e300, "tiny": 1e-300, "ratio": 0.25, "count": 3, "nested": {"at": 1e16}}

    answered = mcp.tool("register_session", {"product_name": "Atlas", "metadata": metadata})["metadata"]

    listed = client_for(person).get("/api/v1/sessions").json()["results"][0]["metadata"]
    assert answered == listed
    assert answered["big"] == 15 * 10**299 and answered["nested"]["at"] == 10**16  # written out: integers
    assert (answered["tiny"], answered["ratio"], answered["count"]) == (1e-300, 0.25, 3)
