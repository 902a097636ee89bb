"""Celery tasks of the memory app: thin (ids in, a service call, the retry policy here)."""

from __future__ import annotations

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.db import InterfaceError, OperationalError, transaction

from apps.memory.consolidation import (
    consolidation_job_fail,
    consolidation_job_postpone,
    consolidation_job_run,
    consolidation_jobs_recover,
)
from apps.memory.embeddings import EmbeddingUnavailable, embedding_config_for_space
from apps.memory.services import embeddings_compute_pending
from apps.scopes.models import Space

BUSY_RETRY_SECONDS = 30
# Database errors worth another try (connection lost, server restarting, deadlock, serialization).
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
CONSOLIDATE_MAX_RETRIES = 8


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(EmbeddingUnavailable,),
    retry_backoff=5,  # 5 s, 10 s, 20 s … (jittered) while the provider is unavailable
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def embed_pending(self, space_id: str) -> dict:
    """Fill missing vectors of one space's decisions and memories (see embeddings_compute_pending)."""
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return {"space": space_id, "deleted": True}
    counts = embeddings_compute_pending(space=space)
    if counts["busy"]:
        # Another run holds the space; run again after it, for rows it may not have seen.
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    return {"space": space_id, **counts}


def embed_pending_on_commit(*, space) -> None:
    """Enqueue ``embed_pending`` for ``space`` once the current transaction commits, if the
    space has an embedding provider at all (writers call this after storing text)."""
    if embedding_config_for_space(space).provider == "none":
        return
    space_id = str(space.id)
    # robust: what was written is committed; a broker that is down must not turn the answer into an
    # error (a retry would write it again). The rows stay pending until the space's next enqueue.
    transaction.on_commit(lambda: embed_pending.delay(space_id=space_id), robust=True)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=CONSOLIDATE_MAX_RETRIES)
def consolidate(self, job_id: str) -> dict:
    """Run one consolidation job (see ``apps.memory.consolidation``); transient database errors are
    retried with exponential backoff (5 s, 10 s, 20 s … ≤ 10 min, jittered), the job queued meanwhile."""
    try:
        outcome = consolidation_job_run(job_id=job_id, transient=TRANSIENT_ERRORS)
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
