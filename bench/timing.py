"""A benchmark-only middleware: how long the request spent inside Django, as ``Server-Timing``.

Placed first in ``bench.settings`` (so it times every other middleware, the view and the
response's rendering, but not gunicorn or the socket), it lets a benchmark split a request's
latency into the server's own time and everything around it (client, socket, gunicorn).
"""

from __future__ import annotations

import time

HEADER = "Server-Timing"


def server_ms(response) -> float | None:
    """The ``app`` duration of a response's ``Server-Timing`` header, in milliseconds."""
    value = response.headers.get(HEADER, "")
    _, found, duration = value.partition("app;dur=")
    return float(duration) if found else None


class ServerTimingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        response[HEADER] = f"app;dur={(time.perf_counter() - started) * 1000:.3f}"
        return response
