"""How a consolidation job that never finishes is ended, in this process: a run stuck past the
time limit stops extending its lease (so recovery hands the job to another run), and a job whose
runs are lost again and again is failed after ``CONSOLIDATION_MAX_ATTEMPTS`` instead of being
queued forever (tests/test_worker_limits.py shows both on a real worker)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.memory.consolidation import consolidation_job_request, consolidation_job_run, consolidation_jobs_recover
from apps.memory.models import ConsolidationJob
from apps.memory.services import memory_create
from apps.memory.tests.test_embedding_deadline import Trickler, provider_at, run_in_thread
from apps.scopes.services import space_ensure_personal
from tests.support.workers import publishing_to, sqla_broker_url, wait_for

LOST = "The job's worker was lost repeatedly"


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def lose(job, *, attempts: int) -> None:
    """As if the worker died after its ``attempts``-th claim (OOM, SIGKILL): running, past its lease."""
    ConsolidationJob.objects.filter(pk=job.pk).update(
        status="running", attempts=attempts, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def assert_given_up(job) -> None:
    job.refresh_from_db()
    assert job.status == ConsolidationJob.Status.FAILED
    assert job.finished_at is not None and job.lease_expires_at is None
    assert job.error == {"code": "INTERNAL_ERROR", "message": f"{LOST}; quote job id {job.pk}."}


@pytest.mark.django_db
def test_recovery_queues_a_lost_job_again_until_its_attempts_are_spent(space, settings):
    settings.CONSOLIDATION_MAX_ATTEMPTS = 3
    job, _ = consolidation_job_request(space=space)
    for attempts in (1, 2):
        lose(job, attempts=attempts)
        assert consolidation_jobs_recover() == [job.pk]
        job.refresh_from_db()
        assert job.status == ConsolidationJob.Status.QUEUED
    lose(job, attempts=3)
    assert consolidation_jobs_recover() == []
    assert_given_up(job)
    # The space takes new jobs again, and the failed one is not run.
    fresh, created = consolidation_job_request(space=space)
    assert created and fresh.pk != job.pk
    assert consolidation_job_run(job_id=job.pk).outcome == "done"


@pytest.mark.django_db
def test_the_next_request_fails_a_spent_job_and_starts_a_new_one(space, settings):
    settings.CONSOLIDATION_MAX_ATTEMPTS = 5
    job, _ = consolidation_job_request(space=space)
    lose(job, attempts=5)
    fresh, created = consolidation_job_request(space=space)
    assert created and fresh.pk != job.pk and fresh.status == ConsolidationJob.Status.QUEUED
    assert_given_up(job)


@pytest.mark.django_db
def test_a_redelivered_message_of_a_spent_job_fails_it_instead_of_running_it(space, settings):
    """The broker, not recovery, brings the job back (reject_on_worker_lost, Redis visibility)."""
    settings.CONSOLIDATION_MAX_ATTEMPTS = 5
    job, _ = consolidation_job_request(space=space)
    lose(job, attempts=4)
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"  # the fifth run is allowed
    job2, _ = consolidation_job_request(space=space)
    lose(job2, attempts=5)
    assert consolidation_job_run(job_id=job2.pk).outcome == "failed"
    assert_given_up(job2)
    job2.refresh_from_db()
    assert job2.attempts == 5 and job2.started_at is None and job2.applied_at is None  # never ran


@pytest.mark.django_db
def test_a_queued_job_past_its_grace_is_sent_again_whatever_its_attempts(space, settings):
    """Only a lost *run* counts: a queued job whose message went missing (or that waits out a
    transient retry) is sent again."""
    settings.CONSOLIDATION_MAX_ATTEMPTS = 2
    job, _ = consolidation_job_request(space=space)
    ConsolidationJob.objects.filter(pk=job.pk).update(
        attempts=2, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert consolidation_jobs_recover() == [job.pk]
    job.refresh_from_db()
    assert job.status == ConsolidationJob.Status.QUEUED and job.lease_expires_at > timezone.now()


@pytest.mark.django_db(transaction=True)
def test_a_run_stuck_past_the_time_limit_stops_extending_its_lease(space, settings):
    """Outside a Celery worker's time limits (eager or solo pools, a stuck C call): the heartbeat
    stops at ``CONSOLIDATION_TASK_TIME_LIMIT_SECONDS``, recovery queues the job again and the stuck run
    can no longer write to it."""
    trickler = Trickler()
    provider_at(settings, trickler, timeout=60)  # the provider's own limit is not what ends it here
    settings.CONSOLIDATION_TASK_TIME_LIMIT_SECONDS = 2
    settings.CONSOLIDATION_LEASE_SECONDS = 1
    settings.CONSOLIDATION_HEARTBEAT_SECONDS = 0.2
    memory_create(space=space, data={"id": str(uuid.uuid4()), "content": "hello", "created_at": "2026-01-01T00:00:00Z"})
    with publishing_to(sqla_broker_url(connection.settings_dict)):
        job, _ = consolidation_job_request(space=space)
        thread, result = run_in_thread(job.pk)
        try:
            wait_for(lambda: trickler.connections, timeout=10, what="the run to call the provider")
            started = time.monotonic()
            # Recovery finds the job once the time limit and then the lease have passed.
            wait_for(consolidation_jobs_recover, timeout=6, interval=0.2, what="the job to be recovered")
            assert time.monotonic() - started >= 1.5
            assert thread.is_alive()  # still stuck, but no longer holding the job
            job.refresh_from_db()
            assert job.status == ConsolidationJob.Status.QUEUED and job.attempts == 1
        finally:
            trickler.close()  # the stuck call ends (its answer is cut short)
            thread.join(10)
    assert result["outcome"] == "lost"  # its final write was fenced off
    job.refresh_from_db()
    assert job.status == ConsolidationJob.Status.QUEUED and job.attempts == 1
