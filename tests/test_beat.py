"""Beat's scheduler (synchronex.beat): it sends again after a broker outage, and starts over from a
damaged schedule file instead of dying."""

from __future__ import annotations

import contextlib
import logging

import psycopg
import pytest
from django.db import connection

from synchronex.beat import Scheduler
from tests.support.workers import publishing_to, sqla_broker_url

ENTRY = {"task": "synchronex.celery.broker_prune", "schedule": 3600}


@pytest.fixture(autouse=True)
def _one_entry():
    from synchronex.celery import app

    previous, app.conf.beat_schedule = app.conf.beat_schedule, {"beat-test": ENTRY}
    yield
    app.conf.beat_schedule = previous


def _scheduler(app, path):
    """The scheduler beat builds from the settings (``celery beat`` and ``worker --beat`` alike)."""
    from celery.beat import Service

    scheduler = Service(app, schedule_filename=str(path), scheduler_cls=app.conf.beat_scheduler).scheduler
    assert isinstance(scheduler, Scheduler)
    return scheduler


def _sent() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM kombu_message WHERE payload LIKE '%%synchronex.celery.broker_prune%%'")
        return cursor.fetchone()[0]


@contextlib.contextmanager
def _database_down(settings_dict: dict):
    """The broker's database refuses connections and its sessions are cut, as in a server outage."""
    name = settings_dict["NAME"]
    connection.close()  # Django's own session would be cut too
    admin = psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict.get("PORT") or 5432,
        user=settings_dict["USER"],
        password=settings_dict.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    try:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()


@pytest.mark.django_db(transaction=True)
def test_beat_sends_again_once_the_broker_database_is_back(tmp_path, caplog):
    with publishing_to(sqla_broker_url(connection.settings_dict)) as app:
        app.conf.broker_transport_options = {"pool_pre_ping": True}  # as settings.py sets it
        scheduler = _scheduler(app, tmp_path / "schedule")
        entry = scheduler.schedule["beat-test"]
        try:
            scheduler.apply_entry(entry, producer=scheduler.producer)
            assert _sent() == 1

            with _database_down(connection.settings_dict), caplog.at_level(logging.ERROR, "celery.beat"):
                scheduler.apply_entry(entry, producer=scheduler.producer)
            assert "Message Error" in caplog.text  # the outage did fail the send

            # The next ticks, as beat runs them (each asks for the producer anew).
            scheduler.apply_entry(entry, producer=scheduler.producer)
            scheduler.apply_entry(entry, producer=scheduler.producer)
            assert _sent() == 3
        finally:
            scheduler.close()


def test_beat_starts_over_from_a_truncated_schedule_file(tmp_path):
    """What a kill mid-write leaves: the index names entries the emptied data file no longer holds."""
    from synchronex.celery import app

    path = tmp_path / "schedule"
    _scheduler(app, path).close()
    data = [p for p in tmp_path.iterdir() if p.suffix in (".dat", "") and p.stat().st_size]
    assert data
    for p in data:
        p.write_bytes(b"")

    scheduler = _scheduler(app, path)
    try:
        assert "beat-test" in scheduler.schedule
        scheduler.sync()
    finally:
        scheduler.close()
    _scheduler(app, path).close()  # and the new file reads back
