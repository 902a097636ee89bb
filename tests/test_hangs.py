"""PostgreSQL or Redis that *hang* (accept connections, never answer) cost bounded time.

A server that refuses is noticed at once; one that hangs (a stopped process, a host gone silent)
used to hold ``/healthz`` and writes until gunicorn killed the worker. Here each is a real server
made to hang: a SIGSTOPped redis-server, or PostgreSQL behind a relay that stops relaying
(``tests/support/hangs.py``), under gunicorn as in production.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

import pytest
import requests
from django.db import connection, connections

from tests.support import servers
from tests.support.hangs import Blackhole, FreezableProxy
from tests.support.workers import publishing_to, wait_for

pytestmark = pytest.mark.slow

# A request that used to block is given this long before the test calls it blocked (gunicorn's
# worker timeout in these tests is 60 s); generous for a slow shared machine.
BOUND = 15


redis = pytest.fixture(servers.restartable_redis, name="redis")
broker = pytest.fixture(servers.restartable_redis, name="broker")


def _stop(instance: servers.RestartableRedis) -> None:
    os.kill(instance.proc.pid, signal.SIGSTOP)  # its kernel still accepts connections: a hang


def _timed_get(url: str, **kwargs) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(url, timeout=BOUND, **kwargs)  # raises ReadTimeout if it blocks
    return response, time.monotonic() - started


def _checks(response: requests.Response) -> dict:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    return response.json()["error"]["details"]["checks"]


# -- Redis ---------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_healthz_answers_within_a_bound_when_redis_hangs(redis):
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": redis.url}
    with servers.gunicorn(env, workers=1) as base:
        assert requests.get(base + "/healthz", timeout=BOUND).status_code == 200
        _stop(redis)
        health, elapsed = _timed_get(base + "/healthz")
        assert _checks(health) == {"database": "ok", "cache": "unavailable", "broker": "unavailable"}
        # The cache's 2 s socket timeout, once: the broker on the same server is not asked again.
        assert elapsed < 8, elapsed

        os.kill(redis.proc.pid, signal.SIGCONT)
        wait_for(lambda: requests.get(base + "/healthz", timeout=BOUND).status_code == 200, timeout=20, what="recovery")


@pytest.mark.django_db(transaction=True)
def test_a_write_answers_and_healthz_is_bounded_when_the_broker_hangs(redis, broker, make_user, make_key):
    """The embedding is published after the decision commits; a hung broker used to hold the 201."""
    from apps.decisions.models import Decision

    token = make_key(make_user(tier="pro"))
    env = {
        "DATABASE_URL": servers.database_url(connection.settings_dict),
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": broker.url,
        "EMBEDDINGS_PROVIDER": "openai",  # so that a write publishes a task (no worker runs it here)
        "EMBEDDINGS_BASE_URL": "http://127.0.0.1:9",
        "EMBEDDINGS_MODEL": "fake-embed-1",
        "EMBEDDINGS_API_KEY": "sk-test",
    }
    with servers.gunicorn(env, workers=1) as base:
        _stop(broker)
        started = time.monotonic()
        made = requests.post(
            base + "/api/v1/memory/decisions",
            json={"decision": "Queue the billing runs", "product_name": "Acme"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=BOUND,
        )
        elapsed = time.monotonic() - started
        assert made.status_code == 201, made.text
        assert elapsed < 12, elapsed  # two publish attempts at the broker's socket timeout
        assert Decision.objects.count() == 1

        health, elapsed = _timed_get(base + "/healthz")
        assert _checks(health) == {"database": "ok", "cache": "ok", "broker": "unavailable"}
        assert elapsed < 8, elapsed


@pytest.mark.django_db(transaction=True)
def test_after_a_hung_publish_writes_do_not_wait_on_the_broker_until_the_pause_ends(redis, broker, make_user, make_key):
    """Every write used to wait out a hung broker (two socket timeouts each), holding the web
    workers one after another; now the first one does, and the process pauses publishing."""
    import redis as redis_py

    from apps.decisions.models import Decision

    token = make_key(make_user(tier="pro"))
    env = {
        "DATABASE_URL": servers.database_url(connection.settings_dict),
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": broker.url,
        "CELERY_BROKER_SOCKET_TIMEOUT": "1",
        "BROKER_PUBLISH_PAUSE_SECONDS": "4",
        "EMBEDDINGS_PROVIDER": "openai",  # so that a write publishes a task (no worker runs it here)
        "EMBEDDINGS_BASE_URL": "http://127.0.0.1:9",
        "EMBEDDINGS_MODEL": "fake-embed-1",
        "EMBEDDINGS_API_KEY": "sk-test",
    }
    queued = redis_py.Redis.from_url(broker.url)

    def write(text: str) -> float:
        started = time.monotonic()
        made = requests.post(
            base + "/api/v1/memory/decisions",
            json={"decision": text, "product_name": "Acme"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=BOUND,
        )
        assert made.status_code == 201, made.text
        return time.monotonic() - started

    with servers.gunicorn(env, workers=1) as base:
        write("Warm the worker's broker connection")
        assert queued.llen("celery") == 1
        _stop(broker)
        assert write("Queue the billing runs") >= 1  # waited on the hung broker
        paused_at = time.monotonic()
        assert write("Cache the pricing table") < 1  # did not
        os.kill(broker.proc.pid, signal.SIGCONT)  # it now reads what the hung attempts had sent
        time.sleep(max(0.0, paused_at + 4.5 - time.monotonic()))
        before = queued.llen("celery")
        write("Shard the audit log")
        assert queued.llen("celery") == before + 1  # published again once the pause ended
    assert Decision.objects.count() == 4


# -- PostgreSQL ----------------------------------------------------------------------------------------
def _upstream(settings_dict: dict):
    host, port = settings_dict["HOST"] or "localhost", settings_dict.get("PORT") or "5432"
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, int(port))


@pytest.mark.django_db(transaction=True)
def test_healthz_answers_within_a_bound_when_postgres_hangs():
    settings_dict = connection.settings_dict
    with FreezableProxy(_upstream(settings_dict)) as proxy:
        url = f"postgres://{settings_dict['USER']}@127.0.0.1:{proxy.port}/{settings_dict['NAME']}"
        # The embedded cache and broker: the same hung server.
        env = {"DATABASE_URL": url, "REDIS_URL": "", "DB_CONN_MAX_AGE": "60", "DB_CONNECT_TIMEOUT": "3"}
        with servers.gunicorn(env, workers=1) as base:
            assert requests.get(base + "/healthz", timeout=BOUND).status_code == 200  # a kept connection
            proxy.freeze()
            unavailable = {"database": "unavailable", "cache": "unavailable", "broker": "unavailable"}

            # On the kept connection: SELECT 1 gets the check's deadline (3 s).
            health, elapsed = _timed_get(base + "/healthz")
            assert _checks(health) == unavailable
            assert elapsed < 10, elapsed

            # On a new connection: the connect timeout (3 s), paid once, not once per check.
            health, elapsed = _timed_get(base + "/healthz")
            assert _checks(health) == unavailable
            assert elapsed < 5.5, elapsed

            proxy.thaw()
            wait_for(
                lambda: requests.get(base + "/healthz", timeout=BOUND).status_code == 200, timeout=20, what="recovery"
            )


@pytest.mark.django_db
def test_database_connections_carry_keepalives_and_a_user_timeout():
    """They end a connection to a host that went silent (no acknowledgements) in seconds, not the
    system's two hours; a stopped process whose kernel still answers is /healthz's deadline's job."""
    from django.conf import settings

    options = settings.DATABASES["default"]["OPTIONS"]
    with FreezableProxy(_upstream(connection.settings_dict)) as proxy:  # over TCP: Unix sockets have no keepalives
        wrapper = type(connections["default"])(
            {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": str(proxy.port)}, "tcp"
        )
        raw = wrapper.get_new_connection(wrapper.get_connection_params())  # as Django connects
        try:
            sock = socket.socket(fileno=os.dup(raw.pgconn.socket))
            with sock:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == options["keepalives_idle"]
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == options["keepalives_interval"]
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == options["keepalives_count"]
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == options["tcp_user_timeout"]
            assert 0 < options["tcp_user_timeout"] <= 60_000 and options["keepalives_idle"] <= 60
        finally:
            raw.close()


# -- in process: the embedded broker, and the Host a load balancer sends --------------------------------
@pytest.mark.parametrize("server", ["refusing", "hanging"])
def test_the_embedded_broker_check_makes_a_round_trip(api, server):
    with Blackhole() as hole:
        port = hole.port if server == "hanging" else servers.free_port()
        with publishing_to(f"sqla+postgresql+psycopg://postgres:@/synchronex?host=127.0.0.1&port={port}"):
            health, elapsed = _timed_get(api.base_url + "/healthz")
    assert _checks(health) == {"database": "ok", "cache": "ok", "broker": "unavailable"}
    assert elapsed < 10, elapsed  # the hanging one: the connect timeout (5 s)


@pytest.mark.usefixtures("broker_on_test_database")
def test_healthz_answers_a_probe_that_names_the_instance_by_address(api, caplog):
    """Load balancers probe with the instance's IP as Host, which ALLOWED_HOSTS does not list."""
    caplog.set_level(logging.INFO)
    for method in ("GET", "HEAD"):
        response = api.request(method, "/healthz", headers={"Host": "10.0.1.23:8000", "X-Request-ID": "lb-1"})
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-ID"] == "lb-1"
        assert response.headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still ran
    assert not [r for r in caplog.records if r.name.startswith("django.security")]
    # Everything else still checks the Host.
    assert api.get("/openapi.yaml", headers={"Host": "10.0.1.23:8000"}).status_code == 400
    assert api.get("/healthz/", headers={"Host": "10.0.1.23:8000"}).status_code == 400
