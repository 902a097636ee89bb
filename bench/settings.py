"""Benchmark settings: the project's own, plus one trivial JSON route used as the baseline, and
a ``Server-Timing`` header on every response (bench/timing.py) so that benchmarks can tell the
server's own time from the client's and the socket's."""

from synchronex.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
MIDDLEWARE = ["bench.timing.ServerTimingMiddleware", *MIDDLEWARE]  # noqa: F405
