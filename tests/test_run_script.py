"""scripts/run.sh (make run): SIGTERM or Ctrl-C stops everything it started, after the worker's
running task, and a taken port is refused before anything starts. Run for real: the script, its
worker and web server, on the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time

import psutil
import pytest
import requests
from django.db import connection

from apps.memory.models import ConsolidationJob
from conftest import Api
from tests.support.servers import ROOT, database_url, free_port
from tests.support.workers import wait_for

pytestmark = pytest.mark.slow


def _session(sid: int) -> list[psutil.Process]:
    """The live processes of session ``sid`` (the script and everything it started)."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getsid(proc.pid) == sid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def _as_from_a_terminal() -> None:
    """SIGINT and SIGQUIT at their defaults, as a terminal starts ``make run``: a suite started in
    the background (``cmd &`` without job control, ``nohup``) ignores them, the script inherited
    that, and bash can trap no signal ignored at its start, so Ctrl-C could not be tested."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@contextlib.contextmanager
def run_script(tmp_path, port: int, env_overrides: dict | None = None):
    """Start scripts/run.sh in a session of its own; yields the Popen and its log's path. Whatever
    is left of the session at the end is killed."""
    log_path = tmp_path / "run.log"
    env = {**os.environ, "PORT": str(port), "SYNCHRONEX_VAR_DIR": str(tmp_path / "var"), **(env_overrides or {})}
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "PUBLIC_BASE_URL"):
        env.pop(name, None)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["bash", "scripts/run.sh"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_as_from_a_terminal,
        )
    try:
        yield proc, log_path
    finally:
        for leftover in _session(proc.pid):
            with contextlib.suppress(psutil.Error):
                leftover.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)


def wait_until_up(proc: subprocess.Popen, log_path, port: int) -> None:
    def up():
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        with contextlib.suppress(requests.RequestException):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return " ready." in log_path.read_text(errors="replace")
        return False

    wait_for(up, timeout=90, interval=0.3, what="web server and worker")


def wait_until_gone(proc: subprocess.Popen, log_path, timeout: float) -> None:
    """An idle stop takes seconds (more on a loaded machine); the hang it guards against was forever."""
    deadline = time.monotonic() + timeout
    while _session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p.cmdline() for p in _session(proc.pid)]
    assert not left, (left, log_path.read_text(errors="replace")[-3000:])


@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_the_web_server_and_the_worker(tmp_path):
    port = free_port()
    env = {"DATABASE_URL": database_url(connection.settings_dict), "DB_CONN_MAX_AGE": "0"}
    with run_script(tmp_path, port, env) as (proc, log_path):
        wait_until_up(proc, log_path, port)
        started = _session(proc.pid)
        assert len(started) >= 4  # the script, runserver (and its reloaded child), the worker (and its pool)

        # PUBLIC_BASE_URL follows PORT (it said 3010 whatever the port), in the web server and the worker.
        resource = requests.get(f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource", timeout=10).json()
        assert resource["resource"] == f"http://localhost:{port}/api/v1"
        worker = next(p for p in started if any("celery" in part for part in p.cmdline()))
        assert worker.environ().get("PUBLIC_BASE_URL") == f"http://localhost:{port}"

        # A second run on the same port is refused, and starts nothing.
        (tmp_path / "second").mkdir()
        with run_script(tmp_path / "second", port, env) as (second, second_log):
            assert second.wait(30) != 0
            assert "already in use" in second_log.read_text()
            assert "is starting" not in second_log.read_text()
            assert not _session(second.pid)

        os.kill(proc.pid, signal.SIGTERM)  # the script alone, as a supervisor or `kill <pid>` does
        wait_until_gone(proc, log_path, timeout=60)


@pytest.mark.parametrize(("signum", "busy"), [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, True)])
@pytest.mark.django_db(transaction=True)
def test_a_signal_to_the_whole_group_stops_everything_once_the_running_task_ends(
    tmp_path, signum, busy, make_user, make_key
):
    """As Ctrl-C (SIGINT) or a supervisor or IDE stopping the group (SIGTERM) signal it: every
    process at once. The SIGTERM killed the worker's pool processes, and their running task; the
    worker then hung after "Warm shutdown" (on a lock a killed one held) until SIGKILL."""
    port = free_port()
    marker = tmp_path / "paused"
    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "DB_CONN_MAX_AGE": "0",
        "CONSOLIDATION_TEST_PAUSE_AT": "claimed",
        "CONSOLIDATION_TEST_PAUSE_SECONDS": "3",
        "CONSOLIDATION_TEST_PAUSE_FILE": str(marker),
    }
    token = make_key(make_user(tier="pro"))
    with run_script(tmp_path, port, env) as (proc, log_path):
        wait_until_up(proc, log_path, port)
        if busy:
            response = Api(f"http://127.0.0.1:{port}", token).post("/api/v1/memory/consolidate", json={})
            assert response.status_code == 202, response.text
            wait_for(marker.exists, timeout=30, what="the consolidation task running")

        os.killpg(proc.pid, signum)
        wait_until_gone(proc, log_path, timeout=60)
    if busy:
        assert ConsolidationJob.objects.get(pk=response.json()["job_id"]).status == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_a_second_sigterm_stops_the_worker_without_waiting_for_its_task(tmp_path, make_user, make_key):
    """Warm shutdown waits for the running task, never forever: a second signal (Ctrl-C twice, a
    supervisor's second SIGTERM) stops the worker at once; the job is recovered later (its lease)."""
    port = free_port()
    marker = tmp_path / "paused"
    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "DB_CONN_MAX_AGE": "0",
        "CONSOLIDATION_TEST_PAUSE_AT": "claimed",
        "CONSOLIDATION_TEST_PAUSE_SECONDS": "600",
        "CONSOLIDATION_TEST_PAUSE_FILE": str(marker),
    }
    token = make_key(make_user(tier="pro"))
    with run_script(tmp_path, port, env) as (proc, log_path):
        wait_until_up(proc, log_path, port)
        response = Api(f"http://127.0.0.1:{port}", token).post("/api/v1/memory/consolidate", json={})
        assert response.status_code == 202, response.text
        wait_for(marker.exists, timeout=30, what="the consolidation task running")

        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(3)
        assert _session(proc.pid)  # still waiting for the task
        os.killpg(proc.pid, signal.SIGTERM)
        wait_until_gone(proc, log_path, timeout=60)


@pytest.mark.django_db(transaction=True)
def test_a_taken_port_is_refused_before_anything_starts(tmp_path):
    """A foreign server on the port (or a make run started elsewhere)."""
    env = {"DATABASE_URL": database_url(connection.settings_dict), "DB_CONN_MAX_AGE": "0"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with run_script(tmp_path, port, env) as (proc, log_path):
            assert proc.wait(30) != 0
            log = log_path.read_text()
            assert f"Port {port} is already in use" in log
            assert "is starting" not in log and "celery" not in log.lower()
            assert not _session(proc.pid)


def test_make_run_checks_the_port_before_it_migrates():
    """`migrate` starts the embedded PostgreSQL: a taken port must be refused before it runs."""
    lines = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0].splitlines()
    prerequisites, recipe = lines[0], [line.strip() for line in lines[1:]]
    assert "migrate" not in prerequisites.split()
    check = recipe.index("bash scripts/run.sh --check-port")
    assert check < next(n for n, line in enumerate(recipe) if "manage.py migrate" in line)


def test_the_port_check_alone_starts_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PORT": str(port), "SYNCHRONEX_VAR_DIR": str(tmp_path / "var")}
        refused = subprocess.run(
            ["bash", "scripts/run.sh", "--check-port"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
        )
    assert refused.returncode != 0 and f"Port {port} is already in use" in refused.stderr
    env["PORT"] = str(free_port())
    free = subprocess.run(
        ["bash", "scripts/run.sh", "--check-port"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert free.returncode == 0, free.stderr
    assert free.stdout == "" and not (tmp_path / "var").exists()


@pytest.mark.parametrize("port", ["abc", "70000", "-1", "0", " 3011", "3011x"])
def test_a_port_that_is_no_port_is_refused_as_such(tmp_path, port):
    # Each was reported "already in use" after a Python traceback (0 passed the check, and the
    # public origin then named port 0).
    env = {**os.environ, "PORT": port, "SYNCHRONEX_VAR_DIR": str(tmp_path / "var")}
    refused = subprocess.run(
        ["bash", "scripts/run.sh", "--check-port"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert refused.returncode != 0
    assert "PORT must be a port number from 1 to 65535" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and "already in use" not in refused.stderr
