"""Celery tasks of the memory app: thin (ids in, a service call, the retry policy here)."""

from __future__ import annotations

import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from apps.memory.consolidation import (
    consolidation_job_fail,
    consolidation_job_postpone,
    consolidation_job_run,
    consolidation_jobs_recover,
)
from apps.memory.embedding_runs import embeddings_compute_pending, embeddings_pending_space_ids
from apps.memory.embeddings import EmbeddingUnavailable, embedding_config_for_space
from apps.scopes.models import Space
from synchronex.publish import publish_on_commit

# Database errors worth another try (connection lost, server restarting, deadlock, serialization).
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
CONSOLIDATE_MAX_RETRIES = 8
SWEEP_SPACES_MAX = 1000  # embedding runs queued per sweep at most (a random pick of the spaces waiting)


@shared_task(
    bind=True,
    acks_late=True,
    # The provider unavailable, a transient database error, or the run cut off by its time limit:
    # the batches stored so far stay, and a later try does the rest.
    autoretry_for=(EmbeddingUnavailable, SoftTimeLimitExceeded, *TRANSIENT_ERRORS),
    retry_backoff=5,  # 5 s, 10 s, 20 s … (jittered)
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
    soft_time_limit=settings.EMBEDDINGS_TASK_TIME_LIMIT_SECONDS,
    # Only if the soft limit cannot end the run: the pool process is killed, and the space's lock
    # dies with its connection.
    time_limit=settings.EMBEDDINGS_TASK_TIME_LIMIT_SECONDS + 30,
)
def embed_pending(self, space_id: str) -> dict:
    """Fill missing vectors of one space's decisions and memories (see embeddings_compute_pending).

    A space busy with another run is left to it (that run comes back for rows written meanwhile),
    so a busy space costs no retry. Rows left pending when the retries run out wait for the
    periodic ``embeddings_sweep``.

    A provider that asked to be left alone (``Retry-After``) or is paused after failing
    (``apps.memory.embedding_pause``) is not called: the task retries once that time is over, plus
    up to a tenth of it (so the tasks of many writes do not all come due at once), not on its own
    backoff. It retries rather than returning with its rows pending: a pause lasts 10 minutes at
    most, the sweep comes hourly, and the rows stay pending either way, so nothing is lost. These
    retries count like the others, so a provider paused again and again cannot keep tasks
    cycling: out of retries, the rows wait for the sweep, whose runs honour the pause alike.
    """
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return {"space": space_id, "deleted": True}
    try:
        counts = embeddings_compute_pending(space=space)
    except SoftTimeLimitExceeded:
        # Cut off anywhere, perhaps mid-query: drop the connection (the space's lock goes with it)
        # rather than let the next task reuse it.
        connection.close()
        raise
    except EmbeddingUnavailable as exc:
        if not exc.retry_after:
            raise  # retried with the backoff above
        countdown = exc.retry_after + random.uniform(0, 1 + exc.retry_after / 10)  # noqa: S311 - jitter
        raise self.retry(exc=exc, countdown=countdown) from None
    return {"space": space_id, **counts}


def embed_pending_on_commit(*, space) -> None:
    """Enqueue ``embed_pending`` for ``space`` once the current transaction commits, if the
    space has an embedding provider at all (writers call this after storing text)."""
    if embedding_config_for_space(space).provider == "none":
        return
    # A broker that is down or hangs neither fails nor holds the answer (synchronex/publish.py):
    # the rows stay pending until the space's next publish or the embedding sweep.
    publish_on_commit(embed_pending, space_id=str(space.id))


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=CONSOLIDATE_MAX_RETRIES,
    # Past the soft limit the run is abandoned to recovery (the job's lease runs out); the hard
    # limit kills the pool process if the soft one cannot end the run.
    soft_time_limit=settings.CONSOLIDATION_TASK_TIME_LIMIT_SECONDS,
    time_limit=settings.CONSOLIDATION_TASK_TIME_LIMIT_SECONDS + 30,
)
def consolidate(self, job_id: str) -> dict:
    """Run one consolidation job (see ``apps.memory.consolidation``); transient database errors are
    retried with exponential backoff (5 s, 10 s, 20 s … ≤ 10 min, jittered), the job queued meanwhile."""
    try:
        outcome = consolidation_job_run(job_id=job_id, transient=TRANSIENT_ERRORS, abandon=(SoftTimeLimitExceeded,))
    except SoftTimeLimitExceeded:
        # Cut off anywhere, perhaps mid-query: drop the connection rather than reuse it.
        connection.close()
        raise
    except TRANSIENT_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            consolidation_job_fail(
                job_id=job_id, code="SERVICE_UNAVAILABLE", message="The database stayed unavailable; request again."
            )
            raise
        countdown = get_exponential_backoff_interval(5, self.request.retries, 600, full_jitter=True)
        try:
            consolidation_job_postpone(job_id=job_id, retry_in=countdown)
        except TRANSIENT_ERRORS:
            pass  # still running on paper: its lease runs out and recovery queues it again
        raise self.retry(exc=exc, countdown=countdown) from None
    if outcome.outcome == "busy" and self.request.retries < self.max_retries:
        # Another delivery runs the job; look again when its lease would end (the lease also
        # brings it back through recovery if that worker died).
        raise self.retry(countdown=outcome.retry_in)
    return {"job": outcome.job_id, "outcome": outcome.outcome}


@shared_task(acks_late=True, ignore_result=True)
def consolidation_recover() -> int:
    """Periodic (Celery beat): queue again consolidation jobs whose worker or message was lost."""
    return len(consolidation_jobs_recover())


@shared_task(acks_late=True, ignore_result=True)
def embeddings_sweep() -> int:
    """Periodic (Celery beat, ``EMBEDDINGS_SWEEP_SECONDS``): queue ``embed_pending`` for spaces
    with rows still without a vector — their message lost, the broker down when they were written,
    or their task out of retries. At most ``SWEEP_SPACES_MAX`` spaces per sweep."""
    space_ids = embeddings_pending_space_ids(limit=SWEEP_SPACES_MAX)
    for space_id in space_ids:
        embed_pending.delay(space_id=str(space_id))
    return len(space_ids)
