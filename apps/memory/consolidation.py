"""Consolidation jobs (SPEC §9): requested over the API, run by a Celery worker, never lost.

A space has at most one ``queued`` or ``running`` job (a partial unique index): a request while
one is active gets that job back. The worker runs the steps of ``consolidation_steps``.

Delivery guarantee. A job must end even if its broker message or its worker is lost — kombu's
SQLAlchemy transport (the embedded broker) never redelivers a message whose worker process was
SIGKILLed, and Redis redelivers one only after its visibility timeout. So the job row carries a
lease (``lease_expires_at``): a running worker extends it every ``CONSOLIDATION_HEARTBEAT_SECONDS``
(a thread); a queued job gets ``CONSOLIDATION_QUEUED_GRACE_SECONDS`` to be picked up. A job
past its lease is queued again (a new message) by the periodic ``consolidation_recover`` task
(Celery beat) and by the next consolidation request of its space.

Exactly once. Steps 1–4 run in one transaction that also sets ``applied_at`` and the stats, under
a per-space advisory lock; a worker killed inside it leaves nothing behind (PostgreSQL rolls the
transaction back when the connection dies), and a run that finds ``applied_at`` set does not
apply again. Duplicate messages for one job are harmless: a claim takes the job row's lock, a
finished job is skipped and a job running under a live lease is retried after the lease.
Every write of a run is fenced by its attempt number, so a worker whose lease was taken over
cannot commit anything. The stats are the job's, whatever its runs: ``embeddings_computed``
counts the vectors every run stored (each batch adds to the row with its vectors) and
``duration_ms`` runs from the first start (``started_at``) to ``finished_at``.

Giving up. A run stuck past ``CONSOLIDATION_TASK_TIME_LIMIT_SECONDS`` is abandoned: the task's
soft time limit ends it (the hard one, 30 s later, kills its process), and its heartbeat stops
extending the lease in any case, so recovery queues the job again. A job whose runs were lost
``CONSOLIDATION_MAX_ATTEMPTS`` times (a job that kills its worker every time, or never ends) is
failed rather than queued once more, so that the space can take new jobs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import JSONField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.memory import consolidation_steps as steps
from apps.memory.models import ConsolidationJob
from apps.products.names import clean_product_name
from apps.products.selectors import product_find
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.publish import publish_on_commit

logger = logging.getLogger(__name__)

ACTIVE = ConsolidationJob.ACTIVE_STATUSES
RUNNING = ConsolidationJob.Status.RUNNING
RECOVER_BATCH = 100


def _in(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def _enqueue(job_id) -> None:
    """Send the job to the broker once the transaction commits. A broker that is down does not
    fail the request: the job stays queued and is recovered when its lease runs out."""
    from apps.memory.tasks import consolidate

    publish_on_commit(consolidate, job_id=str(job_id))


def _spent(job: ConsolidationJob) -> bool:
    """A running job past its lease whose runs were all lost: ``attempts`` counts the runs started,
    and only a lost run leaves the job running (a queued job past its grace lost a message, or
    waits out a transient retry, and is sent again whatever its attempts)."""
    return job.status == RUNNING and job.attempts >= settings.CONSOLIDATION_MAX_ATTEMPTS


def _give_up(job: ConsolidationJob) -> None:
    """Fail a job whose worker was lost too often (the caller holds its row lock)."""
    logger.error("consolidation job %s: worker lost %s times; the job fails", job.pk, job.attempts)
    job.status = ConsolidationJob.Status.FAILED
    job.error = {"code": "INTERNAL_ERROR", "message": f"The job's worker was lost repeatedly; quote job id {job.pk}."}
    job.finished_at = timezone.now()
    job.lease_expires_at = None
    job.save(update_fields=["status", "error", "finished_at", "lease_expires_at"])


def _requeue(job: ConsolidationJob) -> bool:
    """Queue a presumed-lost job again, or fail it when its attempts are spent; True if queued
    (the caller holds its row lock)."""
    if _spent(job):
        _give_up(job)
        return False
    logger.warning("consolidation job %s was %s past its lease; queued again", job.pk, job.status)
    job.status = ConsolidationJob.Status.QUEUED
    job.lease_expires_at = _in(settings.CONSOLIDATION_QUEUED_GRACE_SECONDS)
    job.save(update_fields=["status", "lease_expires_at"])
    _enqueue(job.pk)
    return True


# -- requests -------------------------------------------------------------------------------------
@transaction.atomic
def consolidation_job_request(
    *, space: Space, product_name: str | None = None, dry_run: bool = False
) -> tuple[ConsolidationJob, bool]:
    """The space's active job, or a new queued one; returns (job, created).

    An active job is returned whatever its ``product`` and ``dry_run`` and the request's (SPEC §9:
    no second run while one is queued or running); the API's 202 shows the returned job's, so
    a caller asking for a real run while a dry run is active can tell that it did not get one.

    ``product_name`` narrows steps 1–3 to that product (VALIDATION_ERROR on ``product`` for an
    impossible name, NOT_FOUND for an unknown one). An active job past its lease is queued again,
    or, its attempts spent, failed and replaced by a new job.
    """
    product = None
    if product_name is not None:
        clean = clean_product_name(product_name, field="product")
        product = product_find(space=space, name=clean)
        if product is None:
            raise errors.NotFound(f"No product named {clean!r} in this scope.")
    active = ConsolidationJob.objects.select_for_update().filter(space=space, status__in=ACTIVE).first()
    stale = active is not None and active.lease_expires_at is not None and active.lease_expires_at < timezone.now()
    if stale and not _requeue(active):
        active = None  # its attempts were spent and it failed: the space takes a new job
    if active is None:
        try:
            with transaction.atomic():
                job = ConsolidationJob.objects.create(
                    space=space,
                    product=product,
                    product_name=product.name if product else "",
                    dry_run=dry_run,
                    lease_expires_at=_in(settings.CONSOLIDATION_QUEUED_GRACE_SECONDS),
                )
        except IntegrityError:
            # A concurrent request created the space's job first (the unique index waited for it).
            active = ConsolidationJob.objects.select_for_update().filter(space=space, status__in=ACTIVE).first()
            if active is None:
                raise
        else:
            _enqueue(job.pk)
            return job, True
    return active, False


def consolidation_job_get(*, space: Space, job_id) -> ConsolidationJob:
    """A job of ``space``; unknown ids and other spaces' jobs are NOT_FOUND alike."""
    try:
        pk = uuid.UUID(str(job_id))
    except ValueError:
        raise errors.NotFound("No such consolidation job in this scope.") from None
    job = ConsolidationJob.objects.filter(space=space, pk=pk).first()
    if job is None:
        raise errors.NotFound("No such consolidation job in this scope.")
    return job


# -- recovery -------------------------------------------------------------------------------------
@transaction.atomic
def consolidation_jobs_recover() -> list:
    """Queue again every queued or running job past its lease (failing those whose attempts are
    spent); returns the ids of the jobs queued again."""
    stale = list(
        ConsolidationJob.objects.select_for_update(skip_locked=True)
        .filter(status__in=ACTIVE, lease_expires_at__lt=timezone.now())
        .order_by("lease_expires_at")[:RECOVER_BATCH]
    )
    return [job.pk for job in stale if _requeue(job)]


# -- running --------------------------------------------------------------------------------------
class LeaseLost(Exception):
    """Another worker took the job over (this run's lease had run out)."""


@dataclass(frozen=True)
class RunOutcome:
    """What a delivery of the task did: ``done`` (nothing left to do), ``busy`` (another worker
    holds the job; try again in ``retry_in`` seconds), ``succeeded``, ``failed`` or ``lost``."""

    outcome: str
    job_id: str
    retry_in: float | None = None


def _claim(job_id) -> tuple[ConsolidationJob | None, RunOutcome | None]:
    with transaction.atomic():
        job = ConsolidationJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in ACTIVE:
            return None, RunOutcome("done", str(job_id))
        now = timezone.now()
        if job.status == RUNNING and job.lease_expires_at and job.lease_expires_at > now:
            return None, RunOutcome("busy", str(job_id), (job.lease_expires_at - now).total_seconds() + 1)
        if _spent(job):  # the broker brought back the message of a run lost once too often
            _give_up(job)
            return None, RunOutcome("failed", str(job_id))
        job.status = RUNNING
        job.attempts += 1
        job.started_at = job.started_at or now
        job.lease_expires_at = now + timedelta(seconds=settings.CONSOLIDATION_LEASE_SECONDS)
        job.save(update_fields=["status", "attempts", "started_at", "lease_expires_at"])
        return job, None


def _mine(job: ConsolidationJob):
    """This run's job row, as long as the run still owns it."""
    return ConsolidationJob.objects.filter(pk=job.pk, status=RUNNING, attempts=job.attempts)


@contextmanager
def _heartbeat(job: ConsolidationJob):
    """Extend the job's lease in a background thread while the run works, up to the run's time
    limit: a run stuck past it (where no Celery time limit ends it: an eager or solo pool, a call
    that ignores signals) must not hold the job, so its lease runs out and recovery takes over."""
    stop = threading.Event()
    until = time.monotonic() + settings.CONSOLIDATION_TASK_TIME_LIMIT_SECONDS

    def beat():
        try:
            while not stop.wait(settings.CONSOLIDATION_HEARTBEAT_SECONDS):
                if time.monotonic() >= until:
                    logger.warning("consolidation job %s: past its time limit; its lease is left to run out", job.pk)
                    return
                try:
                    if not _mine(job).update(lease_expires_at=_in(settings.CONSOLIDATION_LEASE_SECONDS)):
                        return  # taken over: the fenced writes of the run will notice
                except Exception:  # a missed beat only shortens the lease; try again next time
                    logger.warning("consolidation job %s: heartbeat failed", job.pk, exc_info=True)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"consolidation-heartbeat-{job.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def pause_point(name: str) -> None:
    """A test hook: with ``CONSOLIDATION_TEST_PAUSE_AT=<name>`` in the worker's environment, the
    run writes its pid to ``CONSOLIDATION_TEST_PAUSE_FILE`` (if set) and sleeps
    ``CONSOLIDATION_TEST_PAUSE_SECONDS`` (default 30) here, so a test can observe or kill it."""
    if os.environ.get("CONSOLIDATION_TEST_PAUSE_AT") != name:
        return
    marker = os.environ.get("CONSOLIDATION_TEST_PAUSE_FILE")
    if marker:
        Path(marker).write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("CONSOLIDATION_TEST_PAUSE_SECONDS", "30")))


class _DryRunDone(Exception):
    def __init__(self, stats: dict):
        self.stats = stats


def _apply(job: ConsolidationJob) -> dict:
    """Steps 1–4 in one transaction, recorded with the job; a dry run rolls them back."""
    try:
        with transaction.atomic():
            steps.lock_space(job.space)
            done = ConsolidationJob.objects.filter(pk=job.pk).values("applied_at", "stats").first()
            if done and done["applied_at"] is not None:
                return done["stats"]  # an earlier run committed them; never apply twice
            stats = steps.apply_steps(
                space=job.space,
                product_id=job.product_id,
                narrowed=bool(job.product_name),
                actor=f"consolidation:{job.pk}",
            )
            pause_point("applied")
            if job.dry_run:
                raise _DryRunDone(stats)
            if not _mine(job).update(applied_at=timezone.now(), stats=stats):
                raise LeaseLost()
            return stats
    except _DryRunDone as dry:
        return dry.stats


def _embedding_tally(job: ConsolidationJob):
    """Step 5's ``on_batch``: each batch's count is added to the job row's ``stats`` in the
    batch's own transaction, as steps 1–4 record theirs with ``applied_at``, so vectors a lost run
    stored still count when a later run finishes the job. Fenced like every write of a run."""

    def tally(count: int) -> None:
        added = RawSQL(
            "jsonb_set(coalesce(stats, '{}'), '{embeddings_computed}',"
            " to_jsonb(coalesce((stats->>'embeddings_computed')::bigint, 0) + %s))",
            [count],
            output_field=JSONField(),
        )
        if not _mine(job).update(stats=added):
            raise LeaseLost()  # the batch rolls back; the run that took over embeds and counts it

    return tally


def _embeddings_computed(job: ConsolidationJob) -> int:
    stats = ConsolidationJob.objects.filter(pk=job.pk).values_list("stats", flat=True).first()
    return (stats or {}).get("embeddings_computed", 0)


def _error_body(exc: Exception, job: ConsolidationJob) -> dict:
    if isinstance(exc, errors.ServiceError) and exc.status < 500:
        return {"code": exc.code, "message": exc.message}
    return {"code": "INTERNAL_ERROR", "message": f"Consolidation failed unexpectedly; quote job id {job.pk}."}


def consolidation_job_run(
    *, job_id, transient: tuple[type[Exception], ...] = (), abandon: tuple[type[Exception], ...] = ()
) -> RunOutcome:
    """Claim the job and run it to the end (the task's body).

    Exceptions of the ``transient`` types propagate (the task retries the job with backoff, see
    ``consolidation_job_postpone``); so do those of the ``abandon`` types (the run's time limit),
    leaving the job running with its heartbeat stopped: its lease runs out and recovery queues it
    again, up to ``CONSOLIDATION_MAX_ATTEMPTS``. Any other error fails the job with an error body.
    """
    job, outcome = _claim(job_id)
    if job is None:
        return outcome
    try:
        with _heartbeat(job):
            pause_point("claimed")
            stats = dict(_apply(job))
            if job.dry_run:
                stats["embeddings_computed"] = steps.compute_embeddings(space=job.space, dry_run=True)
            else:
                steps.compute_embeddings(space=job.space, dry_run=False, on_batch=_embedding_tally(job))
                stats["embeddings_computed"] = _embeddings_computed(job)  # this run's and lost runs'
            pause_point("embedded")
            # The job's stats, not this run's: from its first start (``_claim`` keeps it).
            finished_at = timezone.now()
            stats["duration_ms"] = round((finished_at - job.started_at).total_seconds() * 1000)
            finished = _mine(job).update(
                status=ConsolidationJob.Status.SUCCEEDED,
                stats=stats,
                error=None,
                finished_at=finished_at,
                lease_expires_at=None,
            )
            if not finished:
                raise LeaseLost()
    except LeaseLost:
        logger.warning("consolidation job %s: lease lost to another run; this run stops", job.pk)
        return RunOutcome("lost", str(job.pk))
    except transient:
        raise
    except abandon:
        logger.warning("consolidation job %s: run abandoned at its time limit; recovery takes the job", job.pk)
        raise
    except Exception as exc:
        logger.exception("consolidation job %s failed", job.pk)
        _mine(job).update(
            status=ConsolidationJob.Status.FAILED,
            error=_error_body(exc, job),
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
        return RunOutcome("failed", str(job.pk))
    return RunOutcome("succeeded", str(job.pk))


def consolidation_job_postpone(*, job_id, retry_in: float) -> None:
    """Put a running job back in the queue while its task waits to retry a transient failure."""
    ConsolidationJob.objects.filter(pk=job_id, status=RUNNING).update(
        status=ConsolidationJob.Status.QUEUED,
        lease_expires_at=_in(retry_in + settings.CONSOLIDATION_QUEUED_GRACE_SECONDS),
    )


def consolidation_job_fail(*, job_id, code: str, message: str) -> None:
    """Give up on a job (its retries are spent)."""
    ConsolidationJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
        status=ConsolidationJob.Status.FAILED,
        error={"code": code, "message": message},
        finished_at=timezone.now(),
        lease_expires_at=None,
    )
