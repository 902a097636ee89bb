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
