"""Running test work on threads that start at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


def together(count: int, work) -> list:
    """Run ``work(i)`` on ``count`` threads released at the same moment; returns the results."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def on_thread(work, outcome: dict, name: str) -> threading.Thread:
    """Start ``work`` on a thread of its own (its own connection); its result or error lands in ``outcome``."""
    from django.db import connections

    def run():
        try:
            outcome[name] = work()
        except Exception as exc:  # noqa: BLE001 — the test asserts on it
            outcome[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_for_lock_waiters(count: int = 1) -> None:
    """Until ``count`` other sessions of this database wait on a lock, row or advisory (10 s at most)."""
    import time

    from django.db import connection

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.02)
    raise AssertionError("no session came to wait on a lock")
