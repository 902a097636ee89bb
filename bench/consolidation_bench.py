"""Consolidation of a product with thousands of distinct decisions, next to a pairwise baseline.

Run:  .venv/bin/python bench/consolidation_bench.py [--decisions 5000] [--skip-baseline]

Uses its own database (``synchronex_bench_consolidation`` on the embedded server, recreated each
run), gunicorn and a Celery worker. Seeds one pro account with ``--decisions`` current decisions
of one product — sentences over a 20-word vocabulary (every trigram common: the hard case for
near-duplicate search), 1% exact copies (case and punctuation changed) and 1% near copies (one
word changed) — then:

1. ``POST /api/v1/memory/consolidate {"dry_run": true}`` over HTTP and polls the job until it
   ends: wall time, and the job's own ``duration_ms`` and ``decisions_merged``;
2. baseline: the pairwise statement consolidation ran before (every two distinct texts of the
   product compared with pg_trgm's ``similarity``), on the same rows, in this process.

Printed: both times and their ratio, the baseline's count of near-duplicate pairs of distinct
texts and the job's count of decisions it would merge (exact copies included); that the new
search finds exactly the pairs ``similarity`` finds is tested (apps/memory/tests/test_similar.py).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DB_NAME", "synchronex_bench_consolidation")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bench.harness import prepare  # noqa: E402
from tests.support.servers import gunicorn  # noqa: E402
from tests.support.workers import celery_worker  # noqa: E402

WORDS = [
    "storage",
    "pricing",
    "latency",
    "postgres",
    "onboarding",
    "billing",
    "search",
    "cache",
    "deploy",
    "auth",
    "queue",
    "shard",
    "replica",
    "stripe",
    "invoices",
    "tokens",
    "budget",
    "schema",
    "migration",
    "rollout",
]
PAIRWISE = (
    "WITH reps AS MATERIALIZED (SELECT DISTINCT ON (lower(decision)) id, decision FROM decisions_decision"
    " WHERE space_id = %s AND superseded_by_id IS NULL ORDER BY lower(decision), id)"
    " SELECT count(*) FROM reps a JOIN reps b ON a.id < b.id AND similarity(a.decision, b.decision) >= 0.9"
)


def texts(count: int) -> list[str]:
    rng = random.Random(11)
    out = []
    for n in range(count):
        if n and n % 100 == 0:
            out.append(out[rng.randrange(len(out))].upper() + "!")  # an exact copy, normalised
        elif n and n % 100 == 50:
            words = out[rng.randrange(len(out))].split()
            words[rng.randrange(1, len(words))] = rng.choice(WORDS)  # a near copy (or an exact one)
            out.append(" ".join(words))
        else:
            a, b, c = rng.sample(WORDS, 3)
            out.append(f"Use {a} with {b} for the {c} path (round {n}) because {' '.join(rng.choices(WORDS, k=5))}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--skip-baseline", action="store_true", help="the baseline takes minutes at 5,000")
    args = parser.parse_args()

    url = prepare(fresh=True)
    from django.db import connection, connections

    from apps.accounts.services import api_key_create, user_create
    from apps.decisions.models import Decision
    from apps.decisions.services import decision_create
    from apps.scopes.services import space_ensure_personal

    user = user_create(email="consolidation@synchronex.local", tier="pro")
    _, token = api_key_create(user=user, name="bench", scope="write")
    space = space_ensure_personal(user=user)
    first = decision_create(space=space, decision="Seed the product", product_name="Atlas")
    rows = [Decision(space=space, product=first.product, decision=t, reasoning="bench") for t in texts(args.decisions)]
    Decision.objects.bulk_create(rows, batch_size=1000)
    print(f"seeded {args.decisions + 1} decisions of one product")

    baseline = None
    if not args.skip_baseline:
        with connection.cursor() as cursor:
            started = time.monotonic()
            cursor.execute(PAIRWISE, [space.pk])
            pairs = cursor.fetchone()[0]
            baseline = time.monotonic() - started
        print(f"baseline, pairwise similarity in SQL: {baseline:.1f} s, {pairs} near-duplicate pairs")
    connections.close_all()

    env = {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings", "LOG_LEVEL": "WARNING"}
    auth = {"Authorization": f"Bearer {token}"}
    with gunicorn(env, workers=1) as base, celery_worker(env, name="consolidation"):
        started = time.monotonic()
        job = requests.post(base + "/api/v1/memory/consolidate", json={"dry_run": True}, headers=auth, timeout=30)
        job.raise_for_status()
        status_url = base + job.json()["status_url"]
        while (state := requests.get(status_url, headers=auth, timeout=30).json())["status"] in ("queued", "running"):
            time.sleep(0.2)
        wall = time.monotonic() - started
    stats = state.get("stats") or {}
    print(
        f"consolidation (dry run) over HTTP: {state['status']} in {wall:.1f} s; job duration "
        f"{stats.get('duration_ms')} ms; decisions it would merge: {stats.get('decisions_merged')}"
    )
    if baseline is not None:
        print(f"baseline / consolidation: {baseline / wall:.1f}x")


if __name__ == "__main__":
    main()
