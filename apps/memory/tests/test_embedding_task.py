import contextlib
import threading
import time
import uuid

import psycopg
import pytest
from django.db import connection, connections

from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.memory.embedding_runs import (
    EMBEDDING_LOCK_CLASS,
    EMBEDDING_PASSES_MAX,
    embeddings_compute_pending,
    embeddings_pending_space_ids,
)
from apps.memory.embeddings import EmbeddingUnavailable
from apps.memory.models import EmbeddingSettings, Memory
from apps.memory.services import memory_create
from apps.memory.tasks import embed_pending, embed_pending_on_commit, embeddings_sweep
from apps.memory.tests.fake_openai import bag_of_words_vector
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal
from synchronex.celery import app as celery_app
from synchronex.db.locks import space_key
from tests.support.workers import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def add_memories(space, *texts, **extra):
    return [
        memory_create(
            space=space,
            data={"id": str(uuid.uuid4()), "content": text, "created_at": "2026-01-01T00:00:00Z", **extra},
        )
        for text in texts
    ]


def test_without_a_provider_nothing_is_embedded(space, settings):
    settings.EMBEDDINGS_PROVIDER = "none"
    add_memories(space, "alpha")
    counts = embeddings_compute_pending(space=space)
    assert counts == {"provider": None, "model": None, "decisions": 0, "memories": 0, "busy": False}
    assert Memory.objects.get().embedding is None


def test_memories_get_vectors_with_their_model_and_size(space, openai_embeddings):
    first, second = add_memories(space, "use postgres for search", "sourdough needs time")
    counts = embeddings_compute_pending(space=space)
    assert counts["memories"] == 2 and counts["model"] == "fake-embed-1" and counts["provider"] == "openai"
    for memory in (first, second):
        memory.refresh_from_db()
        assert memory.embedding_model == "fake-embed-1"
        assert memory.embedding_dimensions == 64
        assert list(memory.embedding) == pytest.approx(bag_of_words_vector(memory.content, 64), abs=1e-6)
    # Nothing is pending any more: a second run makes no call.
    calls = len(openai_embeddings.requests)
    assert embeddings_compute_pending(space=space)["memories"] == 0
    assert len(openai_embeddings.requests) == calls


def test_vectors_of_another_model_are_re_embedded(space, openai_embeddings):
    (imported,) = add_memories(
        space, "imported with a vector", embeddings={"model": "other-model", "dimensions": 3, "vector": [1, 0, 0]}
    )
    assert embeddings_compute_pending(space=space)["memories"] == 1
    imported.refresh_from_db()
    assert (imported.embedding_model, imported.embedding_dimensions) == ("fake-embed-1", 64)
    assert imported.raw["embeddings"]["model"] == "other-model"  # the original stays in raw


def test_vectors_of_the_same_model_but_another_size_are_re_embedded(space, openai_embeddings, settings):
    add_memories(space, "one text")
    embeddings_compute_pending(space=space)
    settings.EMBEDDINGS_DIMENSIONS = 16
    assert embeddings_compute_pending(space=space)["memories"] == 1
    assert Memory.objects.get().embedding_dimensions == 16


def test_rows_are_sent_in_batches(space, openai_embeddings):
    add_memories(space, *(f"memory number {i}" for i in range(5)))
    assert embeddings_compute_pending(space=space, batch_size=2)["memories"] == 5
    sizes = [len(r["body"]["input"]) for r in openai_embeddings.requests]
    assert sizes == [2, 2, 1]


def test_a_failure_keeps_the_batches_already_embedded(space, openai_embeddings):
    add_memories(space, *(f"memory number {i}" for i in range(4)))
    openai_embeddings.fail_next(1, status=503, after=1)  # first batch fine, second fails
    with pytest.raises(EmbeddingUnavailable, match="503"):
        embeddings_compute_pending(space=space, batch_size=2)
    assert Memory.objects.filter(embedding__isnull=False).count() == 2
    assert embeddings_compute_pending(space=space, batch_size=2)["memories"] == 2  # only the rest


def test_decisions_are_embedded_from_decision_tags_and_reasoning(space, openai_embeddings):
    decision = Decision.objects.create(
        space=space,
        product=product_ensure(space=space, name="Atlas"),
        decision="Adopt PostgreSQL",
        reasoning="One engine for search and queues",
        tags=["database", "search"],
    )
    add_memories(space, "a memory")
    counts = embeddings_compute_pending(space=space)
    assert (counts["decisions"], counts["memories"]) == (1, 1)
    sent = [text for request in openai_embeddings.requests for text in request["body"]["input"]]
    assert "Adopt PostgreSQL\ndatabase search\nOne engine for search and queues" in sent
    decision.refresh_from_db()
    assert (decision.embedding_model, decision.embedding_dimensions) == ("fake-embed-1", 64)
    assert embeddings_compute_pending(space=space)["decisions"] == 0


def test_decisions_of_another_model_are_re_embedded(space, openai_embeddings):
    Decision.objects.create(
        space=space,
        product=product_ensure(space=space, name="Atlas"),
        decision="Adopt PostgreSQL",
        embedding=[1.0, 0.0],
        embedding_model="older-model",
        embedding_dimensions=2,
    )
    assert embeddings_compute_pending(space=space)["decisions"] == 1
    assert Decision.objects.get().embedding_model == "fake-embed-1"


def test_other_spaces_are_untouched(space, openai_embeddings, make_user):
    other = space_ensure_personal(user=make_user())
    add_memories(other, "someone else's memory")
    add_memories(space, "mine")
    assert embeddings_compute_pending(space=space)["memories"] == 1
    assert Memory.objects.get(space=other).embedding is None


def test_a_second_run_on_a_busy_space_does_nothing(space, openai_embeddings):
    add_memories(space, "mine")
    with embedding_lock_held_elsewhere(space):
        counts = embeddings_compute_pending(space=space)
    assert counts["busy"] is True and counts["memories"] == 0
    assert Memory.objects.get().embedding is None
    assert embeddings_compute_pending(space=space)["memories"] == 1  # lock gone with the connection


def test_space_setting_none_turns_embedding_off(space, openai_embeddings):
    EmbeddingSettings.objects.create(space=space, provider="none")
    add_memories(space, "mine")
    assert embeddings_compute_pending(space=space)["provider"] is None
    assert openai_embeddings.requests == []


# -- the Celery task (run eagerly: the real worker comes later) ----------------------------------
def test_task_embeds_pending_rows(space, openai_embeddings):
    add_memories(space, "a", "b")
    result = embed_pending.apply(args=[str(space.id)])
    assert result.successful()
    assert result.get()["memories"] == 2
    assert result.get()["space"] == str(space.id)


def test_task_retries_while_the_provider_is_unavailable(space, openai_embeddings):
    add_memories(space, "a")
    openai_embeddings.fail_next(2, status=503)
    result = embed_pending.apply(kwargs={"space_id": str(space.id)})
    assert result.successful()
    assert len(openai_embeddings.requests) == 3  # two failures, then success
    assert Memory.objects.get().embedding_model == "fake-embed-1"


def test_task_gives_up_after_its_retries(space, openai_embeddings):
    add_memories(space, "a")
    openai_embeddings.fail_next(100, status=503)
    result = embed_pending.apply(args=[str(space.id)])
    assert result.failed()
    assert isinstance(result.result, EmbeddingUnavailable)
    assert len(openai_embeddings.requests) == embed_pending.max_retries + 1


def test_task_for_a_deleted_space_does_nothing(openai_embeddings):
    missing = str(uuid.uuid4())
    assert embed_pending.apply(args=[missing]).get() == {"space": missing, "deleted": True}


def test_task_is_late_acknowledged():
    assert embed_pending.acks_late is True


@pytest.fixture
def eager_celery():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def test_on_commit_enqueues_only_with_a_provider(
    space, openai_embeddings, eager_celery, django_capture_on_commit_callbacks
):
    add_memories(space, "a")
    EmbeddingSettings.objects.create(space=space, provider="none")
    embed_pending_on_commit(space=space)
    assert openai_embeddings.requests == []
    EmbeddingSettings.objects.all().delete()
    embed_pending_on_commit(space=space)
    assert openai_embeddings.requests == []  # not before the commit
    with django_capture_on_commit_callbacks(execute=True):
        embed_pending_on_commit(space=space)
    assert Memory.objects.get().embedding_model == "fake-embed-1"


# -- busy spaces, rows written during a run, the sweep --------------------------------------------
@contextlib.contextmanager
def embedding_lock_held_elsewhere(space):
    """The space's embedding lock held by another connection, as by a run in another worker."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [EMBEDDING_LOCK_CLASS, space_key(space.id)])
        pid = other.info.backend_pid
        yield
    # The server lets the lock go once that backend has ended, a moment after the client closed
    # (pg_locks is read live, also inside the test's transaction).
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", [pid])
            if cursor.fetchone() is None:
                return
            time.sleep(0.02)
    raise AssertionError("the other connection's backend still holds the embedding lock")


def in_thread(target):
    """Run ``target`` on a thread with its own database connection (closed at the end)."""

    def run():
        try:
            target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_task_on_a_busy_space_returns_without_spending_its_retries(space, openai_embeddings):
    add_memories(space, "mine")
    with embedding_lock_held_elsewhere(space):
        result = embed_pending.apply(kwargs={"space_id": str(space.id)})
    assert result.successful(), repr(result.result)
    assert result.get()["busy"] is True
    assert openai_embeddings.requests == []


@pytest.mark.django_db(transaction=True)
def test_a_run_also_embeds_rows_written_while_it_runs(space, openai_embeddings, settings, eager_celery):
    settings.EMBEDDINGS_BATCH_SIZE = 1
    add_memories(space, "memory one", "memory two", "memory three")
    openai_embeddings.delay_seconds = 0.3
    counts = {}
    run = in_thread(lambda: counts.update(embeddings_compute_pending(space=space)))
    # The run is past the decisions (none yet) and on the memories when this decision arrives;
    # the decision's own task finds the space busy and leaves it to the run.
    wait_for(lambda: openai_embeddings.requests, timeout=10, what="the run's first call")
    decision = decision_create(space=space, decision="Ship on Fridays", product_name="Atlas")
    run.join(30)
    decision.refresh_from_db()
    assert decision.embedding_model == "fake-embed-1"
    assert (counts["decisions"], counts["memories"], counts["busy"]) == (1, 3, False)


@pytest.mark.django_db(transaction=True)
def test_a_row_committed_as_the_run_lets_go_of_the_space_is_embedded(space, openai_embeddings, eager_celery):
    add_memories(space, "first")
    written = []

    def write_right_before_unlock(execute, sql, params, many, context):
        if "pg_advisory_unlock" in sql and not written:
            # A decision stored now: the run has finished its passes, and the decision's own task
            # still finds the space busy (this connection holds the lock) and returns.
            in_thread(
                lambda: written.append(decision_create(space=space, decision="Late one", product_name="Atlas"))
            ).join(30)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(write_right_before_unlock):
        counts = embeddings_compute_pending(space=space)
    assert written and (counts["decisions"], counts["memories"]) == (1, 1)
    assert Decision.objects.get().embedding_model == "fake-embed-1"


def test_a_run_stops_after_a_bounded_number_of_passes(space, openai_embeddings):
    add_memories(space, "never settles")
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(
            "CREATE FUNCTION test_keep_pending() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "NEW.embedding := NULL; NEW.embedding_model := ''; NEW.embedding_dimensions := NULL; RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_keep_pending BEFORE UPDATE ON memory_memory "
            "FOR EACH ROW EXECUTE FUNCTION test_keep_pending()"
        )
    counts = embeddings_compute_pending(space=space)
    assert counts["memories"] == EMBEDDING_PASSES_MAX
    assert len(openai_embeddings.requests) == EMBEDDING_PASSES_MAX
    assert Memory.objects.get().embedding is None  # still pending: the sweep comes back to it


def test_the_sweep_finds_spaces_with_rows_waiting_for_a_vector(space, openai_embeddings, make_user):
    add_memories(space, "waiting")
    done = space_ensure_personal(user=make_user())
    add_memories(done, "embedded already")
    embeddings_compute_pending(space=done)
    opted_out = space_ensure_personal(user=make_user())
    EmbeddingSettings.objects.create(space=opted_out, provider="none")
    add_memories(opted_out, "no provider here")
    with_decision = space_ensure_personal(user=make_user())
    Decision.objects.create(
        space=with_decision, product=product_ensure(space=with_decision, name="Atlas"), decision="Adopt PostgreSQL"
    )
    assert set(embeddings_pending_space_ids(limit=10)) == {space.id, with_decision.id}
    assert len(embeddings_pending_space_ids(limit=1)) == 1


def test_the_sweep_with_no_deployment_provider_looks_only_at_spaces_that_set_one(
    space, openai_embeddings, make_user, settings
):
    add_memories(space, "waiting, but embeddings are off here")
    own = space_ensure_personal(user=make_user())
    EmbeddingSettings.objects.create(space=own, provider="openai", base_url=openai_embeddings.base_url)
    add_memories(own, "waiting for this space's own provider")
    settings.EMBEDDINGS_PROVIDER = "none"
    assert embeddings_pending_space_ids(limit=10) == [own.id]


def test_the_sweep_task_queues_a_run_per_space(space, openai_embeddings, eager_celery, make_user):
    other = space_ensure_personal(user=make_user())
    add_memories(space, "one")
    add_memories(other, "two")
    assert embeddings_sweep.apply().get() == 2
    assert not Memory.objects.filter(embedding__isnull=True).exists()
