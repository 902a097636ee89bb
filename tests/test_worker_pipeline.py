"""The async pipeline on real processes: gunicorn serves the API, ``celery -A synchronex worker``
runs the jobs, once on the embedded broker (kombu's SQLAlchemy transport on the test database)
and once on Redis. Shows a job going queued → running → succeeded with its stats, the active job
returned to a second request, every signal type's effect, merged decisions still resolving, and
a worker SIGKILLed mid-job leaving a job that another worker completes without applying twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from apps.decisions.models import Decision
from apps.identity.models import KernelRevision
from apps.ingest.models import Signal
from apps.memory.models import ConsolidationJob
from apps.memory.tests.fake_openai import FakeEmbeddingServer
from apps.products.models import ProductState
from conftest import Api
from tests.support import servers
from tests.support.workers import celery_worker, publishing_to, sqla_broker_url, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONSOLIDATE = "/api/v1/memory/consolidate"
LEASE_SECONDS = 4  # short, so a killed worker's job is recovered within seconds


@dataclass
class Stack:
    base_url: str
    env: dict
    workdir: Path

    def client(self, token: str) -> Api:
        return Api(self.base_url, token)

    def worker(self, *, pause_at: str | None = None, pause_seconds: float = 120, **kwargs):
        env = dict(self.env)
        if pause_at:
            env.update(
                CONSOLIDATION_TEST_PAUSE_AT=pause_at,
                CONSOLIDATION_TEST_PAUSE_SECONDS=str(pause_seconds),
                CONSOLIDATION_TEST_PAUSE_FILE=str(self.marker),
            )
        env.update(kwargs.pop("env", {}))
        return celery_worker(env, **kwargs)

    @property
    def marker(self) -> Path:
        return self.workdir / "paused"


@pytest.fixture(scope="module", params=["embedded", "redis"])
def server_stack(request, django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn (and redis-server) for all the tests of one broker; workers are per test."""
    with django_db_blocker.unblock():
        settings_dict = dict(connection.settings_dict)
    env = {
        "DATABASE_URL": servers.database_url(settings_dict),
        "REDIS_URL": "",
        "EMBEDDINGS_PROVIDER": "none",
        "CONSOLIDATION_LEASE_SECONDS": str(LEASE_SECONDS),
        "CONSOLIDATION_RECOVER_SECONDS": "1",
    }
    workdir = tmp_path_factory.mktemp(f"pipeline-{request.param}")
    if request.param == "redis":
        if servers.redis_server_binary() is None:
            pytest.skip("redis-server is not installed")
        with servers.redis_server() as redis_url, servers.gunicorn({**env, "REDIS_URL": redis_url}, workers=2) as base:
            yield Stack(base, {**env, "REDIS_URL": redis_url}, workdir)
        return
    # Create the broker's tables once, before two processes race to create them.
    with (
        django_db_blocker.unblock(),
        publishing_to(sqla_broker_url(settings_dict)) as app,
        app.connection_for_write() as conn,
    ):
        conn.default_channel.session  # noqa: B018 - opening the session creates the kombu tables
    with servers.gunicorn(env, workers=2) as base:
        yield Stack(base, env, workdir)


@pytest.fixture
def stack(server_stack, transactional_db):
    server_stack.marker.unlink(missing_ok=True)
    # Start from an empty queue: messages other tests left in the test database's broker tables
    # (for jobs their flush has since removed) would otherwise be worked off first.
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('kombu_message') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute("DELETE FROM kombu_message")
    return server_stack


@pytest.fixture
def owner(make_user, make_key):
    user = make_user(tier="pro")
    return user, make_key(user)


def post(client: Api, path: str, body, status: int = 202) -> dict:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


def get(client: Api, path: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def job_row(job_id) -> ConsolidationJob:
    return ConsolidationJob.objects.get(pk=job_id)


def wait_for_status(client: Api, job: dict, status: str, timeout: float = 60) -> dict:
    return wait_for(
        lambda: (body := get(client, job["status_url"]))["status"] == status and body,
        timeout=timeout,
        interval=0.2,
        what=f"job {status}",
    )


def seed(client: Api) -> None:
    """A product with state, signals of every type and a pair of duplicate decisions."""
    state = {"status": "paused", "what_works": ["Search", "search"], "what_is_blocked": ["Login broken"]}
    assert client.post("/api/v1/memory/product/Atlas/state", json=state).status_code == 201
    signals = [
        {"type": "commit", "title": "Fix typo", "external_id": "c-1"},
        {"type": "issue", "title": "Dark mode"},
        {"type": "note", "body": "Remember the DNS"},
        {"type": "blocker", "title": "Stripe webhooks fail"},
        {"type": "error", "title": "TypeError in checkout"},
        {"type": "ci", "title": "main is red", "data": {"outcome": "failure"}},
        {"type": "ci", "title": "main is green", "data": {"outcome": "success"}},
        {"type": "unblocked", "title": "login broken"},
        {"type": "question", "title": "Annual plans?"},
        {"type": "deploy", "title": "Deployed v1.1"},
        {"type": "release", "title": "v1.2 released"},
        {"type": "session_summary", "body": "Shipped billing", "data": {"next_session_starts_here": "Changelog"}},
        {"type": "decision", "title": "Use Stripe for billing.", "body": "Best API"},
        {"type": "decision", "title": "use stripe for   billing"},
        {"type": "ai_usage", "data": {"provider": "openai", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 5}},
    ]
    body = post(client, "/api/v1/ingest/Atlas", {"signals": signals})
    assert body["accepted"] == len(signals)
    # A repeated external id is not stored again.
    post(client, "/api/v1/ingest/Atlas", {"type": "commit", "title": "Fix typo again", "external_id": "c-1"})


EXPECTED_STATE = {
    "status": "shipped",
    "what_works": ["Search", "login broken", "Deployed v1.1", "v1.2 released"],
    "what_is_blocked": ["Stripe webhooks fail", "TypeError in checkout", "main is red"],
    "open_questions": ["Annual plans?"],
    "last_session_summary": "Shipped billing",
    "next_session_starts_here": "Changelog",
}


def assert_consolidated(client: Api, user, stats: dict) -> None:
    assert stats["signals_applied"] == 8  # blocker, error, ci failure, unblocked, question, deploy, release, summary
    assert stats["signals_ignored"] == 4  # commit, issue, note, ci success
    assert stats["decisions_merged"] == 1
    assert stats["items_cleaned"] == 1  # "search" duplicated "Search"
    state = get(client, "/api/v1/memory/product/Atlas/state")
    assert {key: state[key] for key in EXPECTED_STATE} == EXPECTED_STATE
    assert not Signal.objects.filter(space__owner=user, status="pending").exists()
    survivor, merged = Decision.objects.filter(space__owner=user).order_by("created_at", "id")
    # The merged decision's id still resolves, to its survivor.
    decision = get(client, f"/api/v1/memory/decisions/{merged.pk}")
    assert decision["superseded_by"] == str(survivor.pk) and decision["decision"] == "use stripe for   billing"
    assert [hit["id"] for hit in get(client, "/api/v1/memory/decisions/search", q="stripe")["results"]] == [
        str(survivor.pk)
    ]
    both = get(client, "/api/v1/memory/decisions/search", q="stripe", include_superseded="true")
    assert {hit["id"] for hit in both["results"]} == {str(survivor.pk), str(merged.pk)}
    kernel = get(client, "/api/v1/memory/identity")
    assert [(p["name"], p["status"]) for p in kernel["products"]] == [("Atlas", "shipped")]
    assert "**Atlas** (shipped)" in kernel["injection_block"]


def test_a_job_goes_from_queued_to_running_to_succeeded_on_a_worker(stack, owner, make_user, make_key):
    user, token = owner
    client = stack.client(token)
    seed(client)
    stranger = stack.client(make_key(make_user(tier="pro")))
    post(stranger, "/api/v1/ingest/Atlas", {"type": "blocker", "title": "not yours"})

    job = post(client, CONSOLIDATE, {})
    assert job["status"] == "queued"
    assert get(client, job["status_url"])["status"] == "queued"  # no worker yet
    with FakeEmbeddingServer() as embeddings:
        embedding_env = {
            "EMBEDDINGS_PROVIDER": "openai",
            "EMBEDDINGS_BASE_URL": embeddings.base_url,
            "EMBEDDINGS_API_KEY": embeddings.api_key,
            "EMBEDDINGS_MODEL": "fake-embed-1",
        }
        with stack.worker(pause_at="claimed", pause_seconds=3, env=embedding_env):
            wait_for(stack.marker.exists, timeout=120, what="the worker to claim the job")
            running = get(client, job["status_url"])
            assert running["status"] == "running" and running["started_at"] and running["finished_at"] is None
            again = post(client, CONSOLIDATE, {"dry_run": True})
            assert again["job_id"] == job["job_id"] and again["status"] == "running"
            assert stranger.get(job["status_url"]).status_code == 404
            done = wait_for_status(client, job, "succeeded")
        assert len(embeddings.requests) >= 1  # the worker called the provider

    stats = done["stats"]
    assert_consolidated(client, user, stats)
    assert stats["embeddings_computed"] == 2 and stats["duration_ms"] >= 3000
    assert Decision.objects.filter(embedding_model="fake-embed-1").count() == 2
    assert done["finished_at"] >= done["started_at"] >= done["created_at"] and done["error"] is None
    assert job_row(job["job_id"]).attempts == 1
    # Another space's signals were not touched.
    assert Signal.objects.get(title="not yours").status == "pending"
    assert get(stranger, "/api/v1/memory/product/Atlas/state")["what_is_blocked"] == []


@pytest.mark.parametrize("point", ["applied", "embedded"])
def test_a_job_whose_worker_is_killed_is_completed_by_another_worker_once(stack, owner, point):
    """``applied``: killed inside the apply transaction (nothing may survive); ``embedded``: killed
    after it committed (nothing may be applied again)."""
    user, token = owner
    client = stack.client(token)
    seed(client)
    product = ProductState.objects.get(name="Atlas")
    job = post(client, CONSOLIDATE, {})
    with stack.worker(pause_at=point, name="doomed") as doomed:
        wait_for(stack.marker.exists, timeout=120, what="the worker to reach the pause point")
        row = job_row(job["job_id"])
        assert row.status == "running" and row.attempts == 1
        if point == "applied":
            # Everything is done inside the open transaction; none of it is visible.
            assert Signal.objects.filter(status="pending").count() == 12
            assert not Decision.objects.filter(superseded_by__isnull=False).exists()
        else:
            assert row.applied_at is not None and not Signal.objects.filter(status="pending").exists()
        # The second worker starts while the first still holds the job (its lease is live, so
        # the second leaves the job alone until the first is dead and the lease runs out).
        with stack.worker(name="rescuer", beat=True):
            doomed.kill()
            assert job_row(job["job_id"]).status == "running"  # left behind by the dead worker
            if point == "applied":
                assert ProductState.objects.get(pk=product.pk).version == product.version  # rolled back
            done = wait_for_status(client, job, "succeeded", timeout=90)
    row = job_row(job["job_id"])
    assert row.attempts == 2
    assert_consolidated(client, user, done["stats"])
    # Applied exactly once: one state write, one kernel write by consolidation, one merge.
    assert ProductState.objects.get(pk=product.pk).version == product.version + 1
    assert KernelRevision.objects.filter(actor=f"consolidation:{job['job_id']}").count() == 1
    assert Decision.objects.filter(superseded_by__isnull=False).count() == 1


def test_a_job_recovered_after_a_kill_in_step_five_reports_the_whole_jobs_stats(stack, owner):
    """The worker dies after storing some vectors: the job's stats count every vector the job
    stored (the lost run's too) and its duration runs from its first start."""
    _, token = owner
    client = stack.client(token)
    topics = ["billing", "search", "caching", "exports"]
    decisions = [{"type": "decision", "title": f"Decide on {topic}"} for topic in topics]
    post(client, "/api/v1/ingest/Atlas", {"signals": decisions})
    job = post(client, CONSOLIDATE, {})
    embedded = Decision.objects.filter(embedding__isnull=False)
    with FakeEmbeddingServer() as embeddings:
        env = {
            "EMBEDDINGS_PROVIDER": "openai",
            "EMBEDDINGS_BASE_URL": embeddings.base_url,
            "EMBEDDINGS_API_KEY": embeddings.api_key,
            "EMBEDDINGS_MODEL": "fake-embed-1",
            "EMBEDDINGS_BATCH_SIZE": "1",
        }
        embeddings.delay_seconds = 2  # each vector takes a while: the kill lands mid-step
        with stack.worker(name="doomed", env=env) as doomed:
            wait_for(embedded.exists, timeout=120, interval=0.05, what="the first vector stored")
            doomed.kill()
        lost_run_stored = embedded.count()
        assert 1 <= lost_run_stored < len(topics)
        embeddings.delay_seconds = 0
        with stack.worker(name="rescuer", beat=True, env=env):
            done = wait_for_status(client, job, "succeeded", timeout=90)
    row = job_row(job["job_id"])
    assert row.attempts == 2
    assert embedded.filter(embedding_model="fake-embed-1").count() == len(topics)
    assert done["stats"]["embeddings_computed"] == len(topics)
    assert done["stats"]["duration_ms"] == round((row.finished_at - row.started_at).total_seconds() * 1000)
    assert done["stats"]["duration_ms"] >= LEASE_SECONDS * 1000  # the lost run's lease was waited out
