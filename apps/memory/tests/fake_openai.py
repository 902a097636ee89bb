"""A small OpenAI-compatible embeddings server for tests: real HTTP on 127.0.0.1, a free port.

Vectors are deterministic hashed bags of words (each word adds 1 to a hashed slot; the vector is
then L2-normalised), so texts sharing words are close and unrelated texts are nearly orthogonal.
The server checks the bearer key, records every request, and can be told to fail the next N
calls with a status, or to stall (for timeouts).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORD = re.compile(r"\w+")


def bag_of_words_vector(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in WORD.findall(text.lower()):
        slot = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:4], "big") % dimensions
        vector[slot] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class FakeEmbeddingServer:
    def __init__(self, *, api_key: str | None = "test-embedding-key", dimensions: int = 64):
        self.api_key = api_key
        self.dimensions = dimensions
        self.requests: list[dict] = []
        self.fail_status: int | None = None
        self.failures_left = 0
        self.successes_before_failing = 0
        self.delay_seconds = 0.0
        self.ignore_requested_dimensions = False  # behave like a server that disobeys "dimensions"
        self.respond_with: dict | None = None  # a fixed 200 body, to test malformed answers
        self.respond_raw: bytes | None = None  # a fixed 200 body as sent (JSON json.dumps cannot write)
        self.redirect_to: str | None = None  # answer 302 with this Location
        self.fail_headers: dict[str, str] = {}  # sent with a told failure (e.g. Retry-After)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- control ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, count: int = 1, *, status: int = 500, after: int = 0) -> None:
        """Fail ``count`` calls with ``status``, after letting ``after`` calls succeed."""
        with self._lock:
            self.failures_left, self.fail_status, self.successes_before_failing = count, status, after

    def start(self) -> FakeEmbeddingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeEmbeddingServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- HTTP ---------------------------------------------------------------------------------
    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _answer(self, status: int, body: dict | bytes, headers: dict | None = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with fake._lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    failing = fake.failures_left > 0 and fake.successes_before_failing == 0
                    if failing:
                        fake.failures_left -= 1
                    elif fake.successes_before_failing:
                        fake.successes_before_failing -= 1
                if fake.delay_seconds:
                    time.sleep(fake.delay_seconds)
                if fake.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", fake.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if self.path != "/v1/embeddings":
                    return self._answer(404, {"error": {"message": "not found"}})
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._answer(401, {"error": {"message": "Incorrect API key provided"}})
                if failing:
                    return self._answer(fake.fail_status, {"error": {"message": "told to fail"}}, fake.fail_headers)
                if not isinstance(body, dict) or not isinstance(body.get("input"), list) or not body.get("model"):
                    return self._answer(400, {"error": {"message": "model and input[] are required"}})
                if fake.respond_raw is not None:
                    return self._answer(200, fake.respond_raw)
                if fake.respond_with is not None:
                    return self._answer(200, fake.respond_with)
                asked = None if fake.ignore_requested_dimensions else body.get("dimensions")
                dimensions = asked or fake.dimensions
                data = [
                    {"object": "embedding", "index": i, "embedding": bag_of_words_vector(text, dimensions)}
                    for i, text in enumerate(body["input"])
                ]
                # Answer out of order: clients must sort by index.
                tokens = sum(len(WORD.findall(text)) for text in body["input"])
                return self._answer(
                    200,
                    {
                        "object": "list",
                        "data": list(reversed(data)),
                        "model": body["model"],
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

        return Handler
