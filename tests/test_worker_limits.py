"""Consolidation jobs that never finish, on a real ``celery -A synchronex worker`` (with beat) on the
embedded broker: a run stuck past the task's soft time limit is abandoned and recovery completes
the job; a job whose worker process dies at every run is failed after
``CONSOLIDATION_MAX_ATTEMPTS`` and its space takes new jobs again."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.memory.consolidation import consolidation_job_request
from apps.memory.models import ConsolidationJob
from apps.memory.services import memory_create
from apps.memory.tasks import consolidate
from apps.memory.tests.fake_openai import FakeEmbeddingServer
from apps.scopes.services import space_ensure_personal
from tests.support import servers
from tests.support.workers import celery_worker, publishing_to, sqla_broker_url, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(transactional_db, tmp_path):
    """The worker's environment, and this process publishing to the same (test database) broker."""
    settings_dict = dict(connection.settings_dict)
    with publishing_to(sqla_broker_url(settings_dict)) as app:
        with app.connection_for_write() as conn:
            conn.default_channel.session  # noqa: B018 - opening the session creates the kombu tables
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM kombu_message")  # other tests' leftovers
        yield {
            "DATABASE_URL": servers.database_url(settings_dict),
            "REDIS_URL": "",
            "EMBEDDINGS_PROVIDER": "none",
            "CONSOLIDATION_LEASE_SECONDS": "2",
            "CONSOLIDATION_RECOVER_SECONDS": "2",
        }


def job_status(job_id) -> str:
    return ConsolidationJob.objects.get(pk=job_id).status


def test_a_run_stuck_past_the_soft_time_limit_is_abandoned_and_recovery_completes_the_job(user, worker_env):
    space = space_ensure_personal(user=user)
    memory_create(space=space, data={"id": str(uuid.uuid4()), "content": "hello", "created_at": "2026-01-01T00:00:00Z"})
    with FakeEmbeddingServer() as provider:
        provider.delay_seconds = 100  # the first call hangs (well within its own 120 s timeout)
        env = {
            **worker_env,
            "EMBEDDINGS_PROVIDER": "openai",
            "EMBEDDINGS_BASE_URL": provider.base_url,
            "EMBEDDINGS_API_KEY": provider.api_key,
            "EMBEDDINGS_MODEL": "fake-embed-1",
            "EMBEDDINGS_TIMEOUT_SECONDS": "120",
            # The abandoned run ends at the limit; the recovery's run must finish within it too, on
            # a loaded machine (at 2 s one took longer once and was abandoned as well: 3 attempts).
            "CONSOLIDATION_TASK_TIME_LIMIT_SECONDS": "5",
        }
        with celery_worker(env, beat=True) as worker:
            # A sender writes its own time limits into the message (Celery's ``timelimit``
            # header), and this process has the default ones: the job is sent without any, so the
            # worker applies those of its environment.
            job = ConsolidationJob.objects.create(space=space, lease_expires_at=timezone.now() + timedelta(minutes=1))
            consolidate.apply_async(kwargs={"job_id": str(job.pk)}, time_limit=None, soft_time_limit=None)
            wait_for(lambda: provider.requests, timeout=60, what="the run to call the provider")
            provider.delay_seconds = 0  # the provider is well again for the next run
            try:
                wait_for(lambda: job_status(job.pk) == "succeeded", timeout=30, interval=0.2, what="the job to succeed")
            finally:
                log = worker.log()
                print(log[-6000:])  # shown when the test fails
    job.refresh_from_db()
    assert job.attempts == 2  # the abandoned run, then the one recovery started
    assert job.stats["embeddings_computed"] == 1
    assert "SoftTimeLimitExceeded" in log


def test_a_job_that_kills_its_worker_at_every_run_fails_after_its_attempts(user, worker_env, tmp_path):
    space = space_ensure_personal(user=user)
    marker = tmp_path / "paused"
    env = {
        **worker_env,
        "CONSOLIDATION_MAX_ATTEMPTS": "2",
        "CONSOLIDATION_TEST_PAUSE_AT": "claimed",
        "CONSOLIDATION_TEST_PAUSE_SECONDS": "120",
        "CONSOLIDATION_TEST_PAUSE_FILE": str(marker),
    }
    kills = 0
    with celery_worker(env, beat=True) as worker:
        job, _ = consolidation_job_request(space=space)

        def crash_or_done():
            nonlocal kills
            pid = marker.read_text() if marker.exists() else ""
            if pid:
                # The run is paused inside the job: kill its pool process, as an OOM kill would.
                os.kill(int(pid), signal.SIGKILL)
                marker.unlink()
                kills += 1
            return job_status(job.pk) == "failed"

        try:
            wait_for(crash_or_done, timeout=60, interval=0.2, what="the job to be given up")
        finally:
            print(worker.log()[-6000:])  # shown when the test fails
    fresh, created = consolidation_job_request(space=space)
    job.refresh_from_db()
    assert kills == 2 and job.attempts == 2
    assert job.error == {
        "code": "INTERNAL_ERROR",
        "message": f"The job's worker was lost repeatedly; quote job id {job.pk}.",
    }
    assert created and fresh.pk != job.pk  # the space is no longer blocked
