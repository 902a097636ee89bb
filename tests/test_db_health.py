"""The per-request health check of persistent connections asks the socket first (synchronex/db/base.py)."""

from __future__ import annotations

import select
import time

import pytest
from django.db import connections

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh():
    """Connections of their own to the test database (autocommit), closed afterwards."""
    made = []

    def make():
        wrapper = connections.create_connection("default")
        wrapper.ensure_connection()
        made.append(wrapper)
        return wrapper

    yield make
    for wrapper in made:
        wrapper.close()


def wait_for_input(wrapper, seconds: float = 5.0) -> None:
    poller = select.poll()
    poller.register(wrapper.connection.pgconn.socket, select.POLLIN)
    assert poller.poll(seconds * 1000), "the server sent nothing"


def test_an_idle_healthy_connection_is_usable_without_a_statement(fresh, monkeypatch):
    wrapper = fresh()
    assert type(wrapper).__module__ == "synchronex.db.base"

    def no_statements(*args, **kwargs):
        raise AssertionError("the health check ran a statement")

    monkeypatch.setattr(wrapper.connection, "cursor", no_statements)
    assert wrapper.is_usable() is True


def test_a_connection_the_server_ended_is_replaced(fresh):
    wrapper, admin = fresh(), fresh()
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [wrapper.connection.info.backend_pid])
    wait_for_input(wrapper)
    assert wrapper.is_usable() is False
    wrapper.health_check_done = False  # as at the start of a request
    wrapper.close_if_health_check_failed()
    assert wrapper.connection is None
    with wrapper.cursor() as cursor:  # reconnects
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_message_waiting_on_a_live_connection_falls_back_to_a_statement(fresh):
    wrapper, other = fresh(), fresh()
    with wrapper.cursor() as cursor:
        cursor.execute("LISTEN health_check_test")
    with other.cursor() as cursor:
        cursor.execute("NOTIFY health_check_test")
    wait_for_input(wrapper)
    started = time.monotonic()
    assert wrapper.is_usable() is True  # SELECT 1 read the notification and answered
    assert time.monotonic() - started < 5
