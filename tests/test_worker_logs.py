"""The worker's and beat's log lines, as an operator reads them: the project's format (one record
one line, tracebacks indented), ``LOG_LEVEL``, and the request id of the request that sent a task
on that task's lines. Run for real: gunicorn serves the request, ``celery -A synchronex worker``
runs the task, on the test database."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess

import pytest
import requests
from django.db import connection

from apps.memory.models import ConsolidationJob
from tests.support import servers
from tests.support.servers import ROOT, VENV_BIN
from tests.support.workers import celery_worker, publishing_to, sqla_broker_url, wait_for

# The start of a record in the project's format (settings.LOGGING): time, level, [request id], logger.
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) \[(?P<rid>[^\]]*)\] (?P<name>\S+): ")


@contextlib.contextmanager
def table_renamed(table: str):
    """``table`` missing from the test database meanwhile: whatever reads it fails unexpectedly."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_task_logs_with_the_request_id_of_its_request_and_its_traceback_indented(make_user, make_key):
    settings_dict = dict(connection.settings_dict)
    with publishing_to(sqla_broker_url(settings_dict)) as app, app.connection_for_write() as conn:
        conn.default_channel.session  # noqa: B018 - opening the session creates the kombu tables
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM kombu_message")  # other tests' leftovers
    env = {"DATABASE_URL": servers.database_url(settings_dict), "REDIS_URL": "", "EMBEDDINGS_PROVIDER": "none"}
    key = make_key(make_user(tier="pro"))
    web_log: list[str] = []
    with servers.gunicorn(env, workers=1, log_into=web_log) as base, celery_worker(env, name="logs") as worker:
        # The run fails on the missing table: an ERROR with a traceback that quotes PostgreSQL.
        with table_renamed("ingest_signal"):
            response = requests.post(
                base + "/api/v1/memory/consolidate",
                json={},
                headers={"Authorization": f"Bearer {key}", "X-Request-ID": "rid-worker-7"},
                timeout=30,
            )
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]
            wait_for(
                lambda: ConsolidationJob.objects.get(pk=job_id).status == "failed", timeout=60, what="the job to fail"
            )
            wait_for(lambda: "succeeded in" in worker.log(), timeout=30, what="the task's last line")
        log = worker.log()
    lines = log.splitlines()
    records = [(i, match) for i, line in enumerate(lines) if (match := RECORD.match(line))]
    assert any(line.endswith(" ready.") for line in lines if RECORD.match(line)), log  # Celery's own records too
    # Every record of the task, the traceback's and Celery's own, carries the request's id.
    failed = [i for i, match in records if lines[i].endswith(f"consolidation job {job_id} failed")]
    assert len(failed) == 1, log
    assert RECORD.match(lines[failed[0]])["rid"] == "rid-worker-7"
    assert RECORD.match(lines[failed[0]])["level"] == "ERROR"
    done = [line for line in lines if "apps.memory.tasks.consolidate[" in line and "succeeded in" in line]
    assert len(done) == 1 and RECORD.match(done[0])["rid"] == "rid-worker-7", log
    # The traceback: indented to its record's end, so only a record's first line is at the margin.
    end = next((i for i, _ in records if i > failed[0]), len(lines))
    traceback = lines[failed[0] + 1 : end]
    assert traceback and all(line.startswith("  ") for line in traceback if line), log
    assert any("Traceback (most recent call last):" in line for line in traceback)
    assert any('relation "ingest_signal" does not exist' in line for line in traceback)
    # And the web side's line of that request, with the same id.
    assert "INFO [rid-worker-7] synchronex.access: POST /api/v1/memory/consolidate 202 " in web_log[0], web_log[0]


def _celery_logging(log_level: str) -> str:
    """What a process set up as the worker and beat set up their logging (Celery's ``log.setup``,
    as given ``--loglevel=INFO``) writes for an INFO, a WARNING and an exception record."""
    script = (
        "import logging, django\n"
        "django.setup()\n"
        "from synchronex.celery import app\n"
        "app.log.setup(loglevel='INFO')\n"
        "log = logging.getLogger('celery.beat')\n"
        "log.info('an info line')\n"
        "log.warning('a warning line')\n"
        "try:\n"
        "    raise ValueError('broken')\n"
        "except ValueError:\n"
        "    log.exception('a failure')\n"
    )
    env = {**os.environ, "LOG_LEVEL": log_level}
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_the_worker_and_beat_log_in_the_project_format_at_log_level():
    lines = _celery_logging("warning").splitlines()
    assert not any("an info line" in line for line in lines), lines  # LOG_LEVEL, not --loglevel
    assert any(line.endswith(" WARNING [-] celery.beat: a warning line") for line in lines), lines
    failure = next(i for i, line in enumerate(lines) if line.endswith(" ERROR [-] celery.beat: a failure"))
    assert RECORD.match(lines[failure])
    assert lines[failure + 1 :] and all(line.startswith("  ") for line in lines[failure + 1 :]), lines


def test_a_task_run_inline_keeps_the_id_of_the_request_running_it():
    # CELERY_TASK_ALWAYS_EAGER runs a task in the caller's thread: its records and the request's
    # later ones (its access line) keep the request's id.
    from synchronex.api.request_id import current_request_id, set_request_id
    from synchronex.celery import app, broker_prune

    seen = []
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    set_request_id("rid-inline")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("synchronex.celery.uses_database_broker", lambda: seen.append(current_request_id()) and False)
            broker_prune.delay()
        assert seen == ["rid-inline"] and current_request_id() == "rid-inline"
    finally:
        app.conf.task_always_eager = previous
        set_request_id("-")
