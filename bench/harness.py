"""Shared benchmark plumbing: a separate database, a gunicorn server, and latency sampling.

Every figure is printed next to a baseline measured in the same run, because these machines
are shared and noisy: compare ratios, not absolute milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import database_url, gunicorn  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DB_NAME", "synchronex_bench")


def bench_database_url(*, fresh: bool = False) -> str:
    """A DATABASE_URL for the benchmark database (created on the embedded server when needed)."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    import psycopg

    from synchronex.embedded_db import ensure_running

    db = ensure_running(ROOT)
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and fresh:
            c.execute(f'DROP DATABASE "{BENCH_DB}" WITH (FORCE)')
            exists = None
        if not exists:
            c.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return database_url({**db, "NAME": BENCH_DB})


def prepare(*, fresh: bool = False) -> str:
    """Create and migrate the benchmark database; point this process's Django at it."""
    url = bench_database_url(fresh=fresh)
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    return url


@contextlib.contextmanager
def server(url: str, *, workers: int = 2):
    env = {
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": "600",  # persistent connections, as in production
    }
    with gunicorn(env, workers=workers) as base:
        yield base


def sample(session: requests.Session, url: str, *, headers=None, params=None, server: list | None = None) -> float:
    """Milliseconds for one GET (which must answer 200). With ``server``, the time the request
    spent inside Django (its ``Server-Timing``, bench/timing.py) is appended to that list."""
    started = time.perf_counter()
    response = session.get(url, headers=headers, params=params, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")
    if server is not None:
        from bench.timing import server_ms

        server.append(server_ms(response))
    return elapsed


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(values), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "mean": statistics.fmean(values)}


def row(label: str, stats: dict[str, float]) -> str:
    return (
        f"{label:<34} n={stats['n']:<6} p50={stats['p50']:7.2f} ms  "
        f"p95={stats['p95']:7.2f} ms  p99={stats['p99']:7.2f} ms"
    )
