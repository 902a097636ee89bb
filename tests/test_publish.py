"""Which failed publishes pause publishing (``synchronex/publish.py``): a broker that hangs does, one
that refuses does not, however long kombu's retries took on a busy host.

Real brokers on 127.0.0.1: a closed port (refused) and a socket that accepts and never answers
(hung). Only the clock is moved, to stand for a host too busy to refuse within a second.
"""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest

from synchronex import publish
from synchronex.celery import broker_prune
from tests.support.workers import publishing_to


@pytest.fixture(autouse=True)
def unpaused(monkeypatch):
    monkeypatch.setattr(publish, "_paused_until", 0.0)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _publish_to(url: str) -> None:
    with publishing_to(url) as app:
        app.conf.broker_transport_options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
        publish._publish(broker_prune, {})


def test_a_refused_publish_does_not_pause_however_long_its_retries_took(monkeypatch):
    readings = []

    def busy_clock():  # each reading 2 s after the one before: a host too busy to refuse quickly
        readings.append(None)
        return time.monotonic() + 2.0 * (len(readings) - 1)

    monkeypatch.setattr(publish, "time", SimpleNamespace(monotonic=busy_clock))
    _publish_to(f"redis://127.0.0.1:{_closed_port()}/0")
    assert len(readings) >= 2  # the publish was tried, and failed
    assert publish._paused_until == 0.0


def test_a_publish_to_a_broker_that_never_answers_pauses_publishing(settings):
    settings.BROKER_PUBLISH_PAUSE_SECONDS = 30
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections complete in the backlog; nothing is ever read or written
        _publish_to(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    assert publish._paused_until > time.monotonic() + 20
