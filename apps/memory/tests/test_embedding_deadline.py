"""An embeddings call has one time limit for the whole call (``EMBEDDINGS_TIMEOUT_SECONDS``), not
only per socket read: a server that answers slowly, a byte at a time, is cut off at the limit and
counts as unreachable, like one that does not answer at all."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
from django.db import connection

from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.memory.embeddings import EmbeddingUnavailable, OpenAICompatibleProvider
from apps.memory.models import ConsolidationJob
from apps.memory.services import memory_create
from apps.scopes.services import space_ensure_personal
from tests.support.workers import publishing_to, sqla_broker_url

STATUS_AND_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"


class Trickler:
    """A local HTTP server on 127.0.0.1 that sends its answer one byte every 0.2 s, forever:
    every read gets a byte well within any per-read timeout. ``headers_first``: the status line
    and headers go at once and the body trickles; otherwise the headers trickle too."""

    def __init__(self, *, headers_first: bool = True):
        self.headers_first = headers_first
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if self.headers_first:
                    conn.sendall(STATUS_AND_HEADERS)
                    chunks = iter(lambda: b" ", None)
                else:
                    chunks = (bytes([byte]) for byte in STATUS_AND_HEADERS)
                for chunk in chunks:
                    if self.stop.wait(0.2):
                        return
                    conn.sendall(chunk)
            except OSError:
                pass  # the client went away

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def provider_at(settings, server: Trickler, *, timeout: float) -> None:
    """The deployment's embeddings provider: ``server``, with ``timeout`` for a whole call."""
    settings.EMBEDDINGS_PROVIDER = "openai"
    settings.EMBEDDINGS_BASE_URL = server.url
    settings.EMBEDDINGS_MODEL = "m"
    settings.EMBEDDINGS_API_KEY = "k"
    settings.EMBEDDINGS_TIMEOUT_SECONDS = timeout


def run_in_thread(job_id) -> tuple[threading.Thread, dict]:
    """Run a consolidation job in a thread of its own; ``result["outcome"]`` once it ends."""
    result = {}

    def run():
        try:
            result["outcome"] = consolidation_job_run(job_id=job_id).outcome
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


@pytest.fixture
def trickler():
    server = Trickler()
    yield server
    server.close()


@pytest.mark.parametrize("headers_first", [True, False], ids=["trickled-body", "trickled-headers"])
def test_an_answer_trickled_past_the_timeout_is_cut_off_as_unreachable(headers_first):
    server = Trickler(headers_first=headers_first)
    provider = OpenAICompatibleProvider(base_url=server.url, model="m", api_key="k", timeout=1)
    outcome = {}

    def call():
        started = time.monotonic()
        try:
            provider.embed(["hello"])
        except Exception as exc:
            outcome["error"] = exc
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(5)
    server.close()
    assert not thread.is_alive(), "the call is still reading the trickle"
    assert server.connections == 1
    assert 0.9 < outcome["elapsed"] < 2.5  # the whole call, not each read
    error = outcome.get("error")
    assert isinstance(error, EmbeddingUnavailable) and "unreachable" in str(error) and "1 s" in str(error)


@pytest.mark.django_db(transaction=True)
def test_consolidation_with_a_trickling_provider_still_ends(user, settings, trickler):
    """The auditor's case: the job used to stay ``running`` for as long as the server trickled."""
    provider_at(settings, trickler, timeout=1)
    space = space_ensure_personal(user=user)
    memory_create(space=space, data={"id": str(uuid.uuid4()), "content": "hello", "created_at": "2026-01-01T00:00:00Z"})
    # Step 5 hands the embeddings to the embedding task when the provider fails: a real message
    # on the test database's broker.
    with publishing_to(sqla_broker_url(connection.settings_dict)):
        job, _ = consolidation_job_request(space=space)
        thread, result = run_in_thread(job.pk)
        thread.join(10)
    assert not thread.is_alive(), "the run is still waiting for the provider"
    assert result["outcome"] == "succeeded"
    job.refresh_from_db()
    assert job.status == ConsolidationJob.Status.SUCCEEDED and job.stats["embeddings_computed"] == 0
