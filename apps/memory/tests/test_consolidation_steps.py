"""The consolidation steps and the job life cycle, run in this process (the worker tests in
tests/test_worker_pipeline.py run the same code on real Celery workers)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.identity.models import Kernel, KernelRevision
from apps.identity.services import kernel_update
from apps.ingest.api.serializers import SignalSerializer
from apps.ingest.models import Signal
from apps.ingest.services import signals_ingest
from apps.memory import consolidation_steps
from apps.memory.consolidation import (
    consolidation_job_request,
    consolidation_job_run,
    consolidation_jobs_recover,
)
from apps.memory.models import ConsolidationJob
from apps.products.models import ProductState
from apps.products.services import product_ensure, product_state_write
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def send(space, product: str, *signals: dict) -> dict:
    checked = []
    for signal in signals:
        serializer = SignalSerializer(data=signal)
        serializer.is_valid(raise_exception=True)
        checked.append(serializer.validated_data)
    return signals_ingest(space=space, project_id=product, signals=checked, batch=True)


def consolidate(space, **kwargs) -> ConsolidationJob:
    job, created = consolidation_job_request(space=space, **kwargs)
    assert created
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    job.refresh_from_db()
    return job


def state(space, name: str = "Atlas") -> ProductState:
    return ProductState.objects.get(space=space, name__iexact=name)


def at(minutes: int) -> str:
    return (timezone.now() - timedelta(days=1) + timedelta(minutes=minutes)).isoformat()


def test_every_signal_type_changes_the_state_by_its_rule(space):
    product_state_write(space=space, name="Atlas", changes={"status": "paused", "what_is_blocked": ["Login broken"]})
    send(
        space,
        "Atlas",
        {"type": "blocker", "title": "Stripe webhooks fail", "occurred_at": at(1)},
        {"type": "error", "title": "TypeError in checkout", "occurred_at": at(2)},
        {"type": "ci", "title": "main is red", "data": {"outcome": "failure"}, "occurred_at": at(3)},
        {"type": "ci", "title": "main is green", "data": {"outcome": "success"}, "occurred_at": at(4)},
        {"type": "unblocked", "title": "login BROKEN", "occurred_at": at(5)},
        {"type": "question", "title": "Annual plans?", "occurred_at": at(6)},
        {"type": "deploy", "title": "Deployed v1.1", "occurred_at": at(7)},
        {"type": "deploy", "title": "Deploy v1.2 failed", "data": {"outcome": "failure"}, "occurred_at": at(8)},
        {
            "type": "session_summary",
            "body": "Shipped billing",
            "data": {"next_session_starts_here": "Write the changelog"},
            "occurred_at": at(9),
        },
        {"type": "commit", "title": "Fix typo", "occurred_at": at(10)},
        {"type": "issue", "title": "Dark mode", "occurred_at": at(11)},
        {"type": "note", "body": "Remember the DNS", "occurred_at": at(12)},
    )
    job = consolidate(space)
    product = state(space)
    assert product.what_is_blocked == [
        "Stripe webhooks fail",
        "TypeError in checkout",
        "main is red",
        "Deploy v1.2 failed",
    ]
    assert product.what_works == ["login BROKEN", "Deployed v1.1"]
    assert product.open_questions == ["Annual plans?"]
    assert product.status == "active"  # a deploy reactivates a paused product
    assert product.last_session_summary == "Shipped billing"
    assert product.next_session_starts_here == "Write the changelog"
    assert job.stats["signals_applied"] == 8 and job.stats["signals_ignored"] == 4
    statuses = dict(Signal.objects.values_list("title", "status"))
    assert statuses["main is green"] == statuses["Fix typo"] == statuses["Dark mode"] == "ignored"
    assert statuses["Stripe webhooks fail"] == "applied"
    assert not Signal.objects.filter(status="pending").exists()
    assert not Signal.objects.filter(applied_at__isnull=True).exists()

    send(space, "Atlas", {"type": "release", "title": "v2.0 released"})
    consolidate(space)
    assert state(space).status == "shipped" and state(space).what_works[-1] == "v2.0 released"
    send(space, "Atlas", {"type": "release", "title": "v2.1 beta", "data": {"status": "active"}})
    consolidate(space)
    assert state(space).status == "active"


def test_signals_apply_in_the_order_they_occurred(space):
    send(
        space,
        "Atlas",
        {"type": "unblocked", "title": "Search", "occurred_at": at(2)},
        {"type": "blocker", "title": "Search", "occurred_at": at(1)},
        {"type": "blocker", "title": "Exports", "occurred_at": at(3)},
    )
    send(space, "Atlas", {"type": "unblocked", "title": "exports", "occurred_at": at(4)})
    consolidate(space)
    assert state(space).what_is_blocked == []
    assert state(space).what_works == ["Search", "exports"]
    # Broken again: a blocker takes the item out of what_works.
    send(space, "Atlas", {"type": "blocker", "title": "SEARCH"})
    consolidate(space)
    assert state(space).what_works == ["exports"] and state(space).what_is_blocked == ["SEARCH"]


def test_lists_keep_their_newest_hundred_items(space):
    for start in (0, 60):
        send(space, "Atlas", *({"type": "question", "title": f"Q{n}"} for n in range(start, start + 60)))
    consolidate(space)
    questions = state(space).open_questions
    assert len(questions) == 100 and questions[0] == "Q20" and questions[-1] == "Q119"


def test_cleaning_drops_duplicate_items_and_blocked_items_that_work(space):
    product_state_write(
        space=space,
        name="Atlas",
        changes={
            "what_works": ["Billing", "billing ", "Search"],
            "what_is_blocked": ["search", "Export", "EXPORT"],
            "open_questions": ["Pricing?", "pricing?"],
        },
    )
    version = state(space).version
    job = consolidate(space)
    product = state(space)
    assert product.what_works == ["Billing", "Search"]
    assert product.what_is_blocked == ["Export"]
    assert product.open_questions == ["Pricing?"]
    assert job.stats["items_cleaned"] == 4
    assert product.version == version + 1


def decide(space, text: str, product: str = "Atlas", **kwargs) -> Decision:
    return decision_create(space=space, decision=text, product_name=product, **kwargs)


def current(decision: Decision) -> Decision:
    decision.refresh_from_db()
    return decision


def test_duplicate_decisions_merge_into_the_oldest_and_nothing_is_deleted(space):
    oldest = decide(space, "Use Postgres full-text search for the decision index.")
    same = decide(space, "  use postgres   FULL-TEXT search for the decision index ")
    near = decide(space, "Use Postgres full-text search for the decisions index")  # trigram similarity 0.94
    other = decide(space, "Use Postgres full-text search for the memory index")  # 0.72: not a duplicate
    elsewhere = decide(space, "Use Postgres full-text search for the decision index.", product="Hub")
    job = consolidate(space)
    assert job.stats["decisions_merged"] == 2
    assert Decision.objects.count() == 5
    assert current(oldest).superseded_by_id is None
    # A group of three forms a chain ending at the survivor (supersedes is one-to-one).
    assert current(oldest).supersedes_id == same.pk
    assert current(same).superseded_by_id == oldest.pk
    assert current(near).superseded_by_id == same.pk
    assert current(other).superseded_by_id is None and current(elsewhere).superseded_by_id is None
    # Idempotent: nothing left to merge.
    assert consolidate(space).stats["decisions_merged"] == 0


def test_a_survivor_that_superseded_an_older_decision_keeps_that_history_in_the_chain(space):
    ancient = decide(space, "Use MySQL")
    survivor = decide(space, "Use Postgres", supersedes=ancient.pk)
    duplicate = decide(space, "use postgres")
    assert consolidate(space).stats["decisions_merged"] == 1
    assert current(duplicate).superseded_by_id == survivor.pk
    assert current(survivor).superseded_by_id is None
    # The older decision is still superseded, now by the survivor's duplicate (which resolves to it).
    assert current(ancient).superseded_by_id == duplicate.pk


def test_a_duplicate_that_supersedes_another_decision_stays_out_of_the_merge(space):
    first = decide(space, "Ship weekly")
    older = decide(space, "Ship monthly")
    second = decide(space, "ship weekly", supersedes=older.pk)
    assert consolidate(space).stats["decisions_merged"] == 0
    assert current(first).superseded_by_id is None and current(second).superseded_by_id is None


def test_the_kernel_gets_the_most_recently_active_products(space):
    kernel_update(
        space=space,
        changes={
            "products": [
                {"name": "atlas", "status": "draft", "summary": "Billing app", "url": "https://atlas.example"},
                {"name": "Side project", "summary": "not tracked"},
            ]
        },
        actor="test",
    )
    for n in range(11):
        product_ensure(space=space, name=f"P{n}")
    product_state_write(space=space, name="Archived", changes={"status": "archived"})
    product_state_write(space=space, name="Atlas", changes={"status": "blocked"})
    job = consolidate(space)
    kernel = Kernel.objects.get(space=space)
    assert job.stats["kernel_refreshed"] is True
    names = [p["name"] for p in kernel.products]
    assert len(names) == 10 and names[0] == "Atlas" and "Archived" not in names
    assert names[1:] == [f"P{n}" for n in range(10, 1, -1)]
    assert kernel.products[0] == {
        "name": "Atlas",
        "status": "blocked",
        "summary": "Billing app",
        "url": "https://atlas.example",
    }
    assert "**Atlas** (blocked): Billing app" in kernel.injection_block
    revision = KernelRevision.objects.get(kernel=kernel, version=kernel.version)
    assert revision.actor == f"consolidation:{job.pk}"
    # Nothing changed since: no new version.
    assert consolidate(space).stats["kernel_refreshed"] is False
    assert Kernel.objects.get(space=space).version == kernel.version


def test_the_kernel_keeps_its_other_products_while_there_is_room(space):
    kernel_update(space=space, changes={"products": [{"name": "Side project", "summary": "x"}]}, actor="test")
    product_ensure(space=space, name="Atlas")
    consolidate(space)
    products = Kernel.objects.get(space=space).products
    assert products == [{"name": "Atlas", "status": "active"}, {"name": "Side project", "summary": "x"}]


def test_a_dry_run_reports_what_a_run_would_do_and_changes_nothing(space):
    send(space, "Atlas", {"type": "blocker", "title": "A"}, {"type": "note", "body": "n"})
    product_state_write(space=space, name="Hub", changes={"what_works": ["x", "X"]})
    decide(space, "Use Postgres")
    decide(space, "use postgres.")
    before = {p.name: (p.version, p.what_is_blocked, p.what_works) for p in ProductState.objects.all()}
    dry = consolidate(space, dry_run=True)
    assert dry.dry_run and dry.status == "succeeded" and dry.applied_at is None
    assert {k: dry.stats[k] for k in ("signals_applied", "signals_ignored", "decisions_merged", "items_cleaned")} == {
        "signals_applied": 1,
        "signals_ignored": 1,
        "decisions_merged": 1,
        "items_cleaned": 1,
    }
    assert {p.name: (p.version, p.what_is_blocked, p.what_works) for p in ProductState.objects.all()} == before
    assert Signal.objects.filter(status="pending").count() == 2
    assert not Decision.objects.filter(superseded_by__isnull=False).exists()
    assert not Kernel.objects.filter(space=space).exists()
    real = consolidate(space)
    for key in ("signals_applied", "signals_ignored", "decisions_merged", "items_cleaned", "kernel_refreshed"):
        assert real.stats[key] == dry.stats[key]


def test_a_second_run_changes_nothing(space):
    send(space, "Atlas", {"type": "blocker", "title": "A"}, {"type": "question", "title": "Q"})
    first = consolidate(space)
    versions = dict(ProductState.objects.values_list("name", "version"))
    kernel_version = Kernel.objects.get(space=space).version
    second = consolidate(space)
    assert first.stats["signals_applied"] == 2
    assert {k: v for k, v in second.stats.items() if k != "duration_ms"} == {
        "signals_applied": 0,
        "signals_ignored": 0,
        "decisions_merged": 0,
        "items_cleaned": 0,
        "kernel_refreshed": False,
        "embeddings_computed": 0,
    }
    assert dict(ProductState.objects.values_list("name", "version")) == versions
    assert Kernel.objects.get(space=space).version == kernel_version


def test_a_product_narrows_the_product_steps(space):
    send(space, "Atlas", {"type": "blocker", "title": "A"})
    send(space, "Hub", {"type": "blocker", "title": "H"})
    job = consolidate(space, product_name="atlas")
    assert job.product_name == "Atlas" and job.stats["signals_applied"] == 1
    assert state(space, "Atlas").what_is_blocked == ["A"]
    assert state(space, "Hub").what_is_blocked == []
    assert Signal.objects.get(title="H").status == "pending"


def test_a_run_touches_only_its_own_space(space, make_user):
    other = space_ensure_personal(user=make_user(tier="pro"))
    send(space, "Atlas", {"type": "blocker", "title": "mine"})
    send(other, "Atlas", {"type": "blocker", "title": "theirs"})
    decide(other, "Same")
    decide(other, "same")
    job = consolidate(space)
    assert job.stats["signals_applied"] == 1 and job.stats["decisions_merged"] == 0
    assert state(other).what_is_blocked == [] and Signal.objects.get(title="theirs").status == "pending"
    assert not Decision.objects.filter(space=other, superseded_by__isnull=False).exists()


def test_embeddings_are_computed_in_step_five(space, openai_embeddings):
    decide(space, "Use Postgres")
    decide(space, "Use Redis for the cache")
    dry = consolidate(space, dry_run=True)
    assert dry.stats["embeddings_computed"] == 2
    assert not Decision.objects.filter(embedding__isnull=False).exists()
    job = consolidate(space)
    assert job.stats["embeddings_computed"] == 2
    assert Decision.objects.filter(embedding_model="fake-embed-1").count() == 2
    assert consolidate(space).stats["embeddings_computed"] == 0


def test_a_request_while_a_job_is_active_returns_that_job(space):
    job, created = consolidation_job_request(space=space)
    again, created_again = consolidation_job_request(space=space, dry_run=True)
    assert created and not created_again and again.pk == job.pk and not again.dry_run
    ConsolidationJob.objects.filter(pk=job.pk).update(status="running", lease_expires_at=timezone.now() + timedelta(60))
    assert consolidation_job_request(space=space)[0].pk == job.pk
    consolidation_job_run(job_id=job.pk)  # busy: another run holds the lease
    assert ConsolidationJob.objects.get(pk=job.pk).status == "running"


def test_finished_and_busy_jobs_are_not_run_again(space):
    job = consolidate(space)
    assert consolidation_job_run(job_id=job.pk).outcome == "done"
    running, _ = consolidation_job_request(space=space)
    ConsolidationJob.objects.filter(pk=running.pk).update(
        status="running", attempts=1, lease_expires_at=timezone.now() + timedelta(seconds=30)
    )
    outcome = consolidation_job_run(job_id=running.pk)
    assert outcome.outcome == "busy" and 25 < outcome.retry_in <= 31


def test_a_run_that_finds_its_changes_committed_does_not_apply_them_again(space):
    send(space, "Atlas", {"type": "question", "title": "Q"})
    job = consolidate(space)
    applied_stats = dict(job.stats)
    # As if the worker died after the apply transaction: running, past its lease.
    ConsolidationJob.objects.filter(pk=job.pk).update(
        status="running", finished_at=None, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    send(space, "Atlas", {"type": "question", "title": "Later"})  # arrives after that job's apply
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    job.refresh_from_db()
    assert job.attempts == 2 and job.stats["signals_applied"] == applied_stats["signals_applied"] == 1
    assert state(space).open_questions == ["Q"]
    assert Signal.objects.get(title="Later").status == "pending"


def test_jobs_past_their_lease_are_queued_again(space, make_user):
    stale, _ = consolidation_job_request(space=space)
    ConsolidationJob.objects.filter(pk=stale.pk).update(
        status="running", lease_expires_at=timezone.now() - timedelta(seconds=5)
    )
    fresh_space = space_ensure_personal(user=make_user(tier="pro"))
    fresh, _ = consolidation_job_request(space=fresh_space)
    assert consolidation_jobs_recover() == [stale.pk]
    stale.refresh_from_db()
    assert stale.status == "queued" and stale.lease_expires_at > timezone.now()
    assert ConsolidationJob.objects.get(pk=fresh.pk).status == "queued"
    assert consolidation_jobs_recover() == []
    # The next request of the space also requeues a job past its lease (and returns it).
    ConsolidationJob.objects.filter(pk=stale.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    job, created = consolidation_job_request(space=space)
    assert job.pk == stale.pk and not created and job.lease_expires_at > timezone.now()


def test_an_unexpected_error_fails_the_job_without_leaking_details(space, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("internal detail")

    monkeypatch.setattr(consolidation_steps, "apply_steps", boom)
    job, _ = consolidation_job_request(space=space)
    assert consolidation_job_run(job_id=job.pk).outcome == "failed"
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None and job.lease_expires_at is None
    assert job.error["code"] == "INTERNAL_ERROR" and "internal detail" not in job.error["message"]
    assert str(job.pk) in job.error["message"]
    # The space is free for a new job.
    assert consolidation_job_request(space=space)[1] is True


def test_a_transient_database_error_is_retried_and_the_job_still_succeeds_once(space, monkeypatch):
    """The task's own retry policy (run eagerly here: the retry follows at once)."""
    from django.db import OperationalError

    from apps.memory.tasks import consolidate as consolidate_task

    send(space, "Atlas", {"type": "question", "title": "Q"})
    real, calls = consolidation_steps.apply_steps, []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(consolidation_steps, "apply_steps", flaky)
    job, _ = consolidation_job_request(space=space)
    result = consolidate_task.apply(kwargs={"job_id": str(job.pk)})
    assert result.get() == {"job": str(job.pk), "outcome": "succeeded"}
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2 and job.stats["signals_applied"] == 1
    assert state(space).open_questions == ["Q"]


def test_a_job_that_keeps_failing_transiently_fails_in_the_end(space, monkeypatch):
    from django.db import OperationalError

    from apps.memory.tasks import consolidate as consolidate_task

    def down(**kwargs):
        raise OperationalError("the database system is starting up")

    monkeypatch.setattr(consolidation_steps, "apply_steps", down)
    job, _ = consolidation_job_request(space=space)
    result = consolidate_task.apply(kwargs={"job_id": str(job.pk)})
    with pytest.raises(OperationalError):
        result.get()
    job.refresh_from_db()
    assert job.status == "failed" and job.error["code"] == "SERVICE_UNAVAILABLE"
    assert job.attempts == consolidate_task.max_retries + 1
