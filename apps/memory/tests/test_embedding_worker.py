"""The embedding task on a real worker (``celery -A synchronex worker``) and a fake provider on
127.0.0.1: a busy space, a database connection lost mid-run, the time limit, and the hourly sweep
picking up rows left pending while the provider and the broker were both down."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import connection, connections

from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.memory.embedding_runs import EMBEDDING_LOCK_CLASS, embeddings_compute_pending
from apps.memory.models import Memory
from apps.memory.services import memory_create
from apps.memory.tasks import embed_pending
from apps.memory.tests.fake_openai import FakeEmbeddingServer
from apps.scopes.services import space_ensure_personal
from tests.support import servers
from tests.support.workers import celery_worker, publishing_to, sqla_broker_url, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIME_LIMIT_SECONDS = 3  # the worker's EMBEDDINGS_TASK_TIME_LIMIT_SECONDS: short, for the time-limit test


@pytest.fixture(scope="module")
def embedder():
    with FakeEmbeddingServer() as server:
        yield server


def worker_env(settings_dict: dict, embedder: FakeEmbeddingServer, **extra) -> dict:
    return {
        "DATABASE_URL": servers.database_url(settings_dict),
        "REDIS_URL": "",
        "EMBEDDINGS_PROVIDER": "openai",
        "EMBEDDINGS_BASE_URL": embedder.base_url,
        "EMBEDDINGS_MODEL": "fake-embed-1",
        "EMBEDDINGS_API_KEY": embedder.api_key,
        "EMBEDDINGS_BATCH_SIZE": "1",
        **extra,
    }


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, embedder):
    """One worker on the embedded broker (the test database) for the tests that share its settings."""
    with django_db_blocker.unblock():
        settings_dict = dict(connection.settings_dict)
        with publishing_to(sqla_broker_url(settings_dict)) as app, app.connection_for_write() as conn:
            conn.default_channel.session  # noqa: B018 - creates the kombu tables before the worker races to
    env = worker_env(settings_dict, embedder, EMBEDDINGS_TASK_TIME_LIMIT_SECONDS=str(TIME_LIMIT_SECONDS))
    with celery_worker(env, name="embed") as running:
        yield running


@pytest.fixture
def provider(embedder, settings):
    """This process configured like the worker, and the fake server back to its defaults."""
    embedder.requests.clear()
    embedder.fail_next(0)
    embedder.fail_headers = {}
    embedder.delay_seconds = 0.0
    settings.EMBEDDINGS_PROVIDER = "openai"
    settings.EMBEDDINGS_BASE_URL = embedder.base_url
    settings.EMBEDDINGS_MODEL = "fake-embed-1"
    settings.EMBEDDINGS_API_KEY = embedder.api_key
    settings.EMBEDDINGS_DIMENSIONS = None
    settings.EMBEDDINGS_BATCH_SIZE = 1
    yield embedder
    embedder.delay_seconds = 0.0


@pytest.fixture
def live(worker, provider, transactional_db):
    """The worker, with this process publishing to its broker (an empty queue to start with)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM kombu_message")
    with publishing_to(sqla_broker_url(connection.settings_dict)):
        yield worker


def add_memories(space, *texts):
    for text in texts:
        data = {"id": str(uuid.uuid4()), "content": text, "created_at": "2026-01-01T00:00:00Z"}
        memory_create(space=space, data=data)


def pending() -> int:
    return sum(model.objects.filter(embedding__isnull=True).count() for model in (Decision, Memory))


def new_log(worker, start: int) -> str:
    return worker.log()[start:]


def test_a_task_on_a_busy_space_returns_and_the_running_job_embeds_what_was_written_meanwhile(live, provider, user):
    space = space_ensure_personal(user=user)
    add_memories(space, *(f"memory number {i}" for i in range(40)))
    provider.delay_seconds = 0.3  # slow enough that run A holds the space until told to hurry
    start = len(live.log())
    counts = {}

    def run_a():
        try:
            counts.update(embeddings_compute_pending(space=space))
        finally:
            connections.close_all()

    run = threading.Thread(target=run_a)
    run.start()
    wait_for(lambda: provider.requests, timeout=10, what="run A's first call")
    # Stored while run A is on the memories: its task goes to the worker, which finds the space busy.
    decision = decision_create(space=space, decision="Ship on Fridays", product_name="Atlas")
    wait_for(
        lambda: "'busy': True" in new_log(live, start),
        timeout=20,
        interval=0.2,
        what="the worker's task to find the space busy",
    )
    provider.delay_seconds = 0.0
    run.join(30)
    decision.refresh_from_db()
    assert decision.embedding_model == "fake-embed-1"  # run A came back for it
    assert (counts["decisions"], counts["memories"]) == (1, 40)
    log = new_log(live, start)
    assert "embed_pending" in log and "succeeded" in log
    assert "Retry in" not in log and "MaxRetriesExceeded" not in log


def test_a_database_connection_lost_mid_run_is_retried(live, provider, user):
    space = space_ensure_personal(user=user)
    add_memories(space, "alpha", "beta")
    provider.delay_seconds = 1.0
    start = len(live.log())
    embed_pending.delay(space_id=str(space.id))
    wait_for(lambda: provider.requests, timeout=15, what="the worker's first provider call")
    key = int.from_bytes(space.id.bytes[:4], "big") & 0x7FFFFFFF
    with connection.cursor() as cursor:
        # The worker's connection is the one holding the space's lock: cut it, as a restarting
        # database or a failover would, while the provider call is in flight.
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND objsubid = 2 AND granted",
            [EMBEDDING_LOCK_CLASS, key],
        )
        assert cursor.fetchall() == [(True,)]
    provider.delay_seconds = 0.0
    wait_for(lambda: pending() == 0, timeout=30, interval=0.2, what="the retried run to embed both memories")
    log = new_log(live, start)
    assert "Retry in" in log and ("OperationalError" in log or "InterfaceError" in log)
    assert "Soft time limit" not in log


def test_a_run_past_its_time_limit_stops_and_is_retried(live, provider, user):
    space = space_ensure_personal(user=user)
    add_memories(space, "slow one")
    provider.delay_seconds = TIME_LIMIT_SECONDS + 2  # one call outlasts the task's soft limit
    start = len(live.log())
    # A message carries its sender's limits; none here, so the worker's own setting applies.
    embed_pending.apply_async(kwargs={"space_id": str(space.id)}, time_limit=None, soft_time_limit=None)
    wait_for(lambda: "Soft time limit" in new_log(live, start), timeout=20, interval=0.2, what="the soft time limit")
    provider.delay_seconds = 0.0
    wait_for(lambda: pending() == 0, timeout=30, interval=0.2, what="the retried run to embed the memory")
    log = new_log(live, start)
    assert "SoftTimeLimitExceeded" in log and "Retry in" in log


def test_a_provider_answering_429_with_retry_after_is_left_alone_until_then(live, provider, user, make_user):
    # Without the pause every write's task called the provider and retried on its own backoff
    # (5 s, 10 s …): about four calls per write within two minutes of a Retry-After: 120.
    window = 4
    provider.fail_headers = {"Retry-After": str(window)}
    provider.fail_next(1000, status=429)
    spaces = [space_ensure_personal(user=user), space_ensure_personal(user=make_user(tier="pro"))]
    for i in range(6):
        decision_create(space=spaces[i % 2], decision=f"Decision number {i}", product_name="Atlas")
    wait_for(lambda: provider.requests, timeout=15, what="the worker's first provider call")
    first_call = time.monotonic()
    # Every write's task has come and gone well before the window ends.
    time.sleep(max(0.0, first_call + window - 0.5 - time.monotonic()))
    calls_in_window = len(provider.requests)
    provider.fail_next(0)
    assert calls_in_window == 1, [request["body"]["input"] for request in provider.requests]
    wait_for(lambda: pending() == 0, timeout=20, interval=0.2, what="the rows to be embedded after the pause")
    assert Decision.objects.filter(embedding_model="fake-embed-1").count() == 6


broker = pytest.fixture(servers.restartable_redis, name="broker")


def test_with_provider_and_broker_down_consolidation_succeeds_and_the_sweep_embeds_later(
    provider, broker, user, transactional_db
):
    space = space_ensure_personal(user=user)
    with publishing_to(broker.url):
        broker.stop()
        # Stored and answered although neither their enqueue nor (below) consolidation's can reach the broker.
        decision_create(space=space, decision="Use Postgres", product_name="Atlas")
        decision_create(space=space, decision="use postgres.", product_name="Atlas")
        provider.fail_next(100, status=503)
        job, _ = consolidation_job_request(space=space)
        outcome = consolidation_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert (outcome.outcome, job.status, job.error) == ("succeeded", "succeeded", None)
        assert job.stats["decisions_merged"] == 1 and job.stats["embeddings_computed"] == 0
        assert pending() == 2  # left for the sweep

        provider.fail_next(0)
        broker.start()
        env = worker_env(connection.settings_dict, provider, CELERY_BROKER_URL=broker.url, EMBEDDINGS_SWEEP_SECONDS="1")
        with celery_worker(env, name="sweep", beat=True) as sweeper:
            wait_for(lambda: pending() == 0, timeout=45, interval=0.5, what="the sweep to embed both decisions")
            assert "embeddings_sweep" in sweeper.log()
