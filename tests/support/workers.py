"""Real Celery workers for tests, and pointing this process's Celery app at the test broker.

A worker is ``celery -A synchronex worker`` in its own process group (so a test can SIGKILL the
main process and its pool children at once), configured by environment exactly like production:
``DATABASE_URL`` names the test database, and the broker is that database (embedded default) or
a private redis-server (``REDIS_URL``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.servers import ROOT, VENV_BIN


class Worker:
    def __init__(self, proc: subprocess.Popen, log_path: Path):
        self.proc = proc
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: nothing gets to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, grace: float = 3) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL after ``grace`` seconds: an idle worker with an
        embedded beat can take over ten seconds to wind down, and the tests are over by then."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


@contextlib.contextmanager
def celery_worker(
    env_overrides: dict, *, name: str = "w", beat: bool = False, concurrency: int = 1, ready_timeout: float = 60
):
    """Start a worker (prefork, ``concurrency`` pool processes, one by default) and wait until it
    consumes; yields a ``Worker``."""
    with tempfile.TemporaryDirectory(prefix="celery-worker-") as workdir:
        log_path = Path(workdir) / "worker.log"
        # At INFO whatever LOG_LEVEL the caller's servers get: the worker's " ready." line tells it started.
        env = {**os.environ, **env_overrides, "DB_CONN_MAX_AGE": "0", "LOG_LEVEL": "INFO"}
        command = [
            str(VENV_BIN / "celery"),
            "-A",
            "synchronex",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{name}-{os.getpid()}@%h",
        ]
        if beat:
            command += ["--beat", "--schedule", str(Path(workdir) / "beat-schedule")]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        worker = Worker(proc, log_path)
        try:
            wait_for(
                lambda: " ready." in worker.log() or proc.poll() is not None,
                timeout=ready_timeout,
                what="worker start",
            )
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited:\n{worker.log()[-4000:]}")
            yield worker
        finally:
            worker.stop()


@contextlib.contextmanager
def publishing_to(broker_url: str):
    """Make this process's Celery app publish to ``broker_url`` (the test database or a test Redis)
    instead of the development broker, and release every broker connection afterwards (a pooled
    connection would keep the test database from being dropped)."""
    from kombu import pools
    from kombu.transport.sqlalchemy import Channel

    from synchronex.celery import app

    def reset():
        pools.reset()  # closes and forgets every pooled broker connection of this process
        app._pool = None
        app.amqp._producer_pool = None
        for engine, _ in list(Channel._engines.values()):
            engine.dispose()
        Channel._engines.clear()

    previous = app.conf.broker_url, app.conf.broker_transport_options
    reset()
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = {}
    try:
        yield app
    finally:
        reset()
        app.conf.broker_url, app.conf.broker_transport_options = previous


def sqla_broker_url(settings_dict: dict) -> str:
    """The embedded-default broker URL of the database Django uses now (the test database)."""
    from urllib.parse import quote, urlencode

    query = urlencode({"host": settings_dict["HOST"], "port": settings_dict.get("PORT") or "5432"})
    user = quote(settings_dict["USER"] or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    return f"sqla+postgresql+psycopg://{user}:{password}@/{quote(settings_dict['NAME'], safe='')}?{query}"
