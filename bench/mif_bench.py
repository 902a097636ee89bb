"""MIF export and import of 100,000 memories over HTTP, next to a plain-``json`` baseline.

Run:  .venv/bin/python bench/mif_bench.py [--memories 100000] [--batch 10000] [--reseed]

Uses its own database (``synchronex_bench_mif`` on the embedded server, or ``BENCH_DATABASE_URL``)
and a gunicorn server with ONE worker, so the worker whose memory is measured is the one that
served the request. Steps, all on the same rows in this one run:

1. seed ``--memories`` generic memories into one space (once; ``--reseed`` redoes it) with the
   importer's own writer, in-process (printed as ``import in-process``);
2. baseline: load the same rows and ``json.dumps`` them into one MIF document, in this process
   (time, and this process's peak RSS growth);
3. export: ``GET /api/v1/memory/export-mif`` streamed to a file (time, the worker's peak RSS);
4. import: the exported document posted into an empty space in documents of ``--batch``
   memories (the 25 MiB body limit rules out one request), time and the worker's peak RSS.

RSS is sampled every 10 ms with psutil (the worker's own resident set, not its children).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("BENCH_DB_NAME", "synchronex_bench_mif")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402
import requests  # noqa: E402

from bench.harness import prepare, server  # noqa: E402

SOURCE_EMAIL = "bench-mif-source@synchronex.local"
TARGET_EMAIL = "bench-mif-target@synchronex.local"
MIB = 1024 * 1024
TOPICS = ["PostgreSQL", "pricing", "onboarding", "the billing bug", "Celery retries", "the launch", "pgvector"]


class PeakRss:
    """Samples a process's RSS in a thread; ``peak`` is the highest seen since start."""

    def __init__(self, pid: int, interval: float = 0.01):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    def line(self) -> str:
        return f"peak RSS {self.peak / MIB:7.1f} MiB (+{(self.peak - self.baseline) / MIB:6.1f} MiB over idle)"


def memory(n: int, start: datetime) -> dict:
    """A plausible generic memory with the fields other systems send."""
    topic = TOPICS[n % len(TOPICS)]
    return {
        "id": str(uuid.uuid4()),
        "content": f"Note {n}: the team discussed {topic} again and agreed on next steps for sprint {n % 50}.",
        "created_at": (start + timedelta(seconds=n)).isoformat(),
        "memory_type": ["observation", "learning", "decision", "context"][n % 4],
        "tags": ["bench", topic.lower().replace(" ", "-")],
        "metadata": {"sprint": n % 50, "source": "bench"},
        "source": {"source_type": "conversation", "agent_name": "bench-agent"},
    }


def account(email: str):
    from apps.accounts.models import User
    from apps.accounts.services import api_key_create, user_create
    from apps.scopes.services import space_ensure_personal

    user = User.objects.filter(email=email).first() or user_create(email=email, tier="enterprise")
    user.daily_limit, user.minute_limit = 10_000_000, 1_000_000
    user.save()
    _, key = api_key_create(user=user, name="bench", scope="write")
    return space_ensure_personal(user=user), {"Authorization": f"Bearer {key}"}


def seed(space, count: int, *, reseed: bool) -> None:
    from apps.memory.mif.writer import memories_write
    from apps.memory.models import Memory

    if reseed:
        Memory.objects.filter(space=space).delete()
    have = Memory.objects.filter(space=space).count()
    if have >= count:
        print(f"seed: {have} memories already in the source space")
        return
    start = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    step = 5_000
    for first in range(have, count, step):
        items = [(n, None, memory(n, start)) for n in range(first, min(first + step, count))]
        outcome = memories_write(space=space, items=items, dry_run=False)
        assert not outcome.errors, outcome.errors[:3]
    elapsed = time.perf_counter() - started
    print(
        f"import in-process (seeding):  {(count - have) / elapsed:9.0f} memories/s  ({count - have} in {elapsed:.1f} s)"
    )


def baseline(space) -> None:
    """The same rows as one document with plain json.dumps, in one process (no streaming)."""
    from apps.memory.models import Memory

    me = os.getpid()
    with PeakRss(me) as rss:
        started = time.perf_counter()
        rows = list(
            Memory.objects.filter(space=space).order_by("created_at", "memory_id").values_list("raw", flat=True)
        )
        text = json.dumps({"mif_version": "2.0", "memories": rows})
        elapsed = time.perf_counter() - started
    print(
        f"baseline json.dumps in-process: {len(rows) / elapsed:9.0f} memories/s  "
        f"{len(text) / MIB:6.1f} MiB in {elapsed:5.2f} s   {rss.line()}"
    )
    del rows, text


def worker_pid() -> int:
    """The one gunicorn worker: the grandchild of this process (gunicorn master → worker)."""
    for child in psutil.Process().children(recursive=True):
        if (
            "gunicorn" in " ".join(child.cmdline())
            and child.parent()
            and "gunicorn" in " ".join(child.parent().cmdline())
        ):
            return child.pid
    raise RuntimeError("no gunicorn worker found")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="memories per import request")
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()

    url = prepare()
    from apps.memory.models import Memory

    source, source_headers = account(SOURCE_EMAIL)
    target, target_headers = account(TARGET_EMAIL)
    seed(source, args.memories, reseed=args.reseed)
    Memory.objects.filter(space=target).delete()
    count = Memory.objects.filter(space=source).count()
    print(f"rows: {count} generic memories in one space")
    baseline(source)

    with server(url, workers=1) as base, tempfile.TemporaryDirectory() as tmp:
        session = requests.Session()
        session.get(base + "/api/v1/memory/export-mif", headers=target_headers, timeout=60)  # warm the worker
        pid = worker_pid()
        path = Path(tmp) / "export.mif.json"
        with PeakRss(pid) as rss, path.open("wb") as out:
            started = time.perf_counter()
            response = session.get(base + "/api/v1/memory/export-mif", headers=source_headers, stream=True, timeout=600)
            assert response.status_code == 200, response.text[:300]
            for chunk in response.iter_content(chunk_size=256 * 1024):
                out.write(chunk)
            elapsed = time.perf_counter() - started
        size = path.stat().st_size
        print(
            f"export over HTTP (streamed):    {count / elapsed:9.0f} memories/s  "
            f"{size / MIB:6.1f} MiB in {elapsed:5.2f} s   worker {rss.line()}"
        )

        document = json.loads(path.read_text())
        memories = document.pop("memories")
        assert len(memories) == count
        bodies = [
            json.dumps({"mif_version": "2.0", "memories": memories[i : i + args.batch]}).encode()
            for i in range(0, len(memories), args.batch)
        ]
        del memories, document
        imported = 0
        with PeakRss(pid) as rss:
            started = time.perf_counter()
            for body in bodies:
                response = session.post(
                    base + "/api/v1/memory/import-mif",
                    data=body,
                    headers={**target_headers, "Content-Type": "application/json"},
                    timeout=600,
                )
                assert response.status_code == 200, response.text[:300]
                result = response.json()
                assert result["errors"] == [], result["errors"][:3]
                imported += result["memories_imported"]
            elapsed = time.perf_counter() - started
        largest = max(len(body) for body in bodies) / MIB
        print(
            f"import over HTTP ({len(bodies)} x {args.batch}): {imported / elapsed:9.0f} memories/s  "
            f"largest body {largest:4.1f} MiB, {elapsed:5.2f} s   worker {rss.line()}"
        )
        assert imported == count, (imported, count)


if __name__ == "__main__":
    main()
