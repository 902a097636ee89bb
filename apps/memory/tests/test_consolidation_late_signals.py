"""A signal that arrives late (its ``occurred_at`` older than signals already applied) gives the
state that applying every signal in ``occurred_at`` order gives, whatever batches consolidation
happened to see: it does not override what a newer applied signal set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.ingest.api.serializers import SignalSerializer
from apps.ingest.models import Signal
from apps.ingest.services import signals_ingest
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.memory.models import ConsolidationJob
from apps.products.models import ProductState
from apps.products.services import product_state_write
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

BASE = timezone.now() - timedelta(days=3)


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def day(n: int) -> str:
    return (BASE + timedelta(days=n)).isoformat()


def send(space, product: str, *signals: dict) -> None:
    checked = []
    for signal in signals:
        serializer = SignalSerializer(data=signal)
        serializer.is_valid(raise_exception=True)
        checked.append(serializer.validated_data)
    signals_ingest(space=space, project_id=product, signals=checked, batch=True)


def consolidate(space) -> ConsolidationJob:
    job, created = consolidation_job_request(space=space)
    assert created
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    job.refresh_from_db()
    return job


def snapshot(space, name: str) -> dict:
    """The state's fields signals set; list items compared as sets (an item's place in a list
    follows when it was added)."""
    product = ProductState.objects.get(space=space, name=name)
    return {
        "status": product.status,
        "what_works": sorted(product.what_works),
        "what_is_blocked": sorted(product.what_is_blocked),
        "open_questions": sorted(product.open_questions),
        "last_session_summary": product.last_session_summary,
        "next_session_starts_here": product.next_session_starts_here,
    }


def split_and_whole(space, first: list[dict], late: list[dict]) -> tuple[dict, dict]:
    """The state of "Split" (``first`` consolidated, then ``late``) and of "Whole" (both at once)."""
    send(space, "Split", *first)
    consolidate(space)
    send(space, "Split", *late)
    send(space, "Whole", *first)
    send(space, "Whole", *late)
    consolidate(space)
    assert not Signal.objects.filter(status="pending").exists()
    return snapshot(space, "Split"), snapshot(space, "Whole")


def summary(body: str, handoff: str | None, when: int) -> dict:
    data = {} if handoff is None else {"next_session_starts_here": handoff}
    return {"type": "session_summary", "body": body, "data": data, "occurred_at": day(when)}


def test_a_late_older_session_summary_does_not_replace_the_newer_one(space):
    split, whole = split_and_whole(
        space,
        [summary("NEW: finished auth rewrite", "ship auth", 2)],
        [summary("OLD: started auth rewrite", "begin auth", 0)],
    )
    assert split == whole
    assert split["last_session_summary"] == "NEW: finished auth rewrite"
    assert split["next_session_starts_here"] == "ship auth"
    # The late signal is done with (applied: its effect was overtaken), not retried.
    assert set(Signal.objects.values_list("status", flat=True)) == {"applied"}


def test_a_late_blocker_and_paused_deploy_do_not_undo_a_newer_release_and_unblock(space):
    split, whole = split_and_whole(
        space,
        [
            {"type": "release", "title": "v2.0", "occurred_at": day(2)},
            {"type": "unblocked", "title": "Login broken", "occurred_at": day(2)},
        ],
        [
            {"type": "blocker", "title": "login BROKEN", "occurred_at": day(1)},
            {"type": "deploy", "title": "v1.9 on staging", "data": {"status": "paused"}, "occurred_at": day(1)},
        ],
    )
    assert split == whole
    assert split["status"] == "shipped" and split["what_is_blocked"] == []
    # The deploy's own item is not overtaken by anything: it still joins what_works.
    assert split["what_works"] == ["Login broken", "v1.9 on staging", "v2.0"]


def test_a_newer_summary_without_a_handoff_is_the_handoff_a_late_one_leaves(space):
    """A summary without ``next_session_starts_here`` is its own handoff (as MCP end_session), so
    the late one's handoff does not pair with the newer summary."""
    split, whole = split_and_whole(
        space,
        [summary("NEW", None, 2)],
        [summary("OLD", "begin auth", 0)],
    )
    assert split == whole
    assert split["last_session_summary"] == "NEW" and split["next_session_starts_here"] == "NEW"


def test_a_newer_reactivating_deploy_still_reactivates_a_late_paused_status(space):
    split, whole = split_and_whole(
        space,
        [
            {"type": "release", "title": "v1", "occurred_at": day(0)},
            {"type": "deploy", "title": "hotfix", "occurred_at": day(2)},  # no status: reactivates
        ],
        [{"type": "release", "title": "v1.1", "data": {"status": "paused"}, "occurred_at": day(1)}],
    )
    assert split == whole
    assert split["status"] == "active"


def test_later_signals_still_apply_over_earlier_ones_across_runs(space):
    split, whole = split_and_whole(
        space,
        [
            {"type": "blocker", "title": "Exports", "occurred_at": day(0)},
            summary("first", "a", 0),
        ],
        [
            {"type": "unblocked", "title": "exports", "occurred_at": day(1)},
            {"type": "release", "title": "v3", "data": {"status": "paused"}, "occurred_at": day(1)},
            summary("second", "b", 1),
        ],
    )
    assert split == whole
    assert split["what_is_blocked"] == [] and split["status"] == "paused"
    assert (split["last_session_summary"], split["next_session_starts_here"]) == ("second", "b")


def test_a_late_signal_changes_nothing_on_a_second_run(space):
    send(space, "Atlas", summary("NEW", "ship", 2), {"type": "release", "title": "v2", "occurred_at": day(2)})
    consolidate(space)
    late_deploy = {"type": "deploy", "title": "v1", "data": {"status": "paused"}, "occurred_at": day(1)}
    send(space, "Atlas", summary("OLD", "begin", 0), late_deploy)
    version = ProductState.objects.get(name="Atlas").version
    job = consolidate(space)
    assert job.stats["signals_applied"] == 2
    product = ProductState.objects.get(name="Atlas")
    assert product.version == version + 1  # the deploy's item joined what_works
    assert product.last_session_summary == "NEW" and product.status == "shipped"
    again = consolidate(space)
    assert again.stats["signals_applied"] == 0
    assert ProductState.objects.get(name="Atlas").version == version + 1


def test_a_late_signal_still_applies_over_a_direct_write(space):
    """Direct writes carry no ``occurred_at``: a signal consolidated after one applies on top of it."""
    send(space, "Atlas", summary("from a signal", "x", 2))
    consolidate(space)
    product_state_write(space=space, name="Atlas", changes={"status": "paused"})
    send(space, "Atlas", {"type": "release", "title": "v1", "occurred_at": day(0)})
    consolidate(space)
    product = ProductState.objects.get(name="Atlas")
    assert product.status == "shipped" and product.last_session_summary == "from a signal"
