"""Benchmark settings: the project's own, plus one trivial JSON route used as the baseline."""

from synchronex.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
