"""Throughput and latency of a realistic mix on the production-style stack, next to a trivial view.

Run:  .venv/bin/python bench/load_bench.py [--users 8,32,64] [--seconds 20] [--workers 4]
      [--floor identity|scope] [--json out.json]

The stack, all on this machine (loopback only): gunicorn with ``--workers`` sync workers on
``bench.settings`` (the project plus ``/bench/trivial``), a Celery worker, PostgreSQL (the
embedded server, in its own ``synchronex_load`` database, recreated each run), and a private
redis-server (``REDIS_URL`` for web and worker: quota counters and broker). Persistent database
connections, as in production.

Seed: one enterprise account with limits the run cannot reach; a full Identity Kernel, 10
products with state, 600 decisions spread over them.

Load: locust (bench/load_locust.py) with closed-loop users and no think time at each
concurrency step; the mix is 80% reads (identity 25, product state 20, decision search 20,
kernel export 15) and 20% writes (decisions 8, product state updates 6, ingest 6). Each step
then runs against the API's floor, its cheapest authenticated read (``--floor identity``, the
default: ``GET /api/v1/memory/identity``, whose rendered body is remembered; ``--floor scope``:
``GET /api/v1/scope``, the floor of the earlier sessions: its workspaces go through the ORM, and
it costs three identity reads of Python in-process), and against
``GET /bench/trivial`` on the same server (the ceiling), right after the mix. The floor bounds
the mix: every mixed request pays what the floor pays, and then its own work.

Printed: per step and route, requests per second and p50/p95/p99 in ms, failures; then the mix's
throughput as a share of the trivial view's at each step. Target: ≥ 50% with no errors. The
generator shares the two cores with the server; its CPU use is printed so the reader can see it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

os.environ.setdefault("BENCH_DB_NAME", "synchronex_load")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import ROOT, prepare  # noqa: E402
from tests.support.servers import gunicorn, redis_server  # noqa: E402
from tests.support.workers import celery_worker  # noqa: E402

PRODUCTS = [f"Product {n}" for n in range(10)]
TOPICS = ["storage", "pricing", "latency", "postgres", "onboarding", "billing", "search", "cache", "deploy", "auth"]
KERNEL = {
    "identity": {
        "name": "Ada Founder",
        "company": "Lovelace Labs",
        "location": "Lisbon",
        "timezone": "Europe/Lisbon",
        "role": "Founder, product and engineering",
        "industry": "Developer tools",
    },
    "products": [{"name": name, "status": "active", "summary": f"{name}: an AI tool for teams"} for name in PRODUCTS],
    "constraints": {
        "always": [f"Always rule {n}: write tests first and keep modules small" for n in range(10)],
        "never": [f"Never rule {n}: do not ship without a migration plan" for n in range(10)],
        "communication_style": "Direct, concise, no filler. Show the command you ran.",
    },
    "model_preferences": {"providers": ["anthropic", "openai"], "default_model": "claude-sonnet"},
}


def seed_requests(decisions: int):
    """The seed as API calls, ``(method, path, body)``: a full kernel, 10 products with state and
    ``decisions`` decisions (bench/route_costs.py replays the same calls in-process)."""
    yield "PUT", "/api/v1/memory/identity", KERNEL
    for n, name in enumerate(PRODUCTS):
        state = {
            "status": "active",
            "what_works": [f"{TOPICS[(n + k) % 10]} works on {name}" for k in range(5)],
            "what_is_blocked": [f"{TOPICS[(n + 3) % 10]} is slow"],
            "open_questions": [f"Should {name} move {TOPICS[n]} to a queue?"],
            "next_session_starts_here": f"Finish the {TOPICS[n]} rollout of {name}.",
        }
        yield "POST", f"/api/v1/memory/product/{quote(name, safe='')}/state", state
    for n in range(decisions):
        a, b, c = TOPICS[n % 10], TOPICS[(n * 3 + 1) % 10], TOPICS[(n * 7 + 2) % 10]
        body = {
            "decision": f"Use {a} with {b} for the {c} path (round {n})",
            "product_name": PRODUCTS[n % 10],
            "reasoning": f"We compared {a} and {b}; {c} was the bottleneck in round {n}.",
            "tags": [a, b],
            "affects_products": [PRODUCTS[(n + 1) % 10]] if n % 5 == 0 else [],
        }
        yield "POST", "/api/v1/memory/decisions", body


def seed(base: str, token: str, decisions: int) -> None:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for method, path, body in seed_requests(decisions):
        session.request(method, base + path, json=body, timeout=30).raise_for_status()


def run_generator(base: str, token: str, mode: str, args, users: str) -> list[dict]:
    command = [sys.executable, str(ROOT / "bench" / "load_locust.py"), "--host", base, "--token", token]
    command += ["--mode", mode, "--users", users, "--seconds", str(args.seconds), "--warmup", str(args.warmup)]
    command += ["--products", "|".join(PRODUCTS)]
    timeout = (args.seconds + args.warmup) * len(users.split(",")) + 120
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{result.stderr[-4000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def fmt(label: str, figures: dict) -> str:
    return (
        f"  {label:<24} {figures['rps']:8.1f} req/s  p50 {figures['p50']:6.0f} ms  p95 {figures['p95']:6.0f} ms  "
        f"p99 {figures['p99']:6.0f} ms  failures {figures['failures']}"
    )


def report(mix: list[dict], floor: list[dict], trivial: list[dict], floor_name: str) -> list[dict]:
    summary = []
    for step, lightest, ceiling in zip(mix, floor, trivial, strict=True):
        print(f"\n== {step['users']} users, {step['seconds']:.0f} s each")
        for name, figures in step["routes"].items():
            print(fmt(name, figures))
        print(fmt("mix, all routes", step["total"]))
        print(fmt(f"GET {floor_name} (API floor)", lightest["total"]))
        print(fmt("GET /bench/trivial", ceiling["total"]))
        share = step["total"]["rps"] / ceiling["total"]["rps"]
        floor_share = lightest["total"]["rps"] / ceiling["total"]["rps"]
        print(
            f"  mix / trivial throughput: {share:.0%}   (API floor / trivial: {floor_share:.0%})   generator CPU: "
            f"mix {step['generator_cpu']:.0%}, trivial {ceiling['generator_cpu']:.0%} of one core"
        )
        for error in step["errors"] + lightest["errors"] + ceiling["errors"]:
            print(f"  error: {error}")
        failures = step["total"]["failures"] + lightest["total"]["failures"] + ceiling["total"]["failures"]
        summary.append({"users": step["users"], "share": share, "floor_share": floor_share, "failures": failures})
    best = max(summary, key=lambda s: s["share"])
    failures = sum(s["failures"] for s in summary)
    verdict = "met" if best["share"] >= 0.5 and failures == 0 else "NOT met"
    print(f"\nbest share {best['share']:.0%} at {best['users']} users; failures {failures}; ", end="")
    print(f"target (>= 50%, no errors) {verdict}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", default="8,32,64", help="concurrency steps, comma-separated")
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=4, help="unmeasured seconds before each step")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--decisions", type=int, default=600, help="decisions seeded")
    parser.add_argument("--floor", choices=("identity", "scope"), default="identity", help="the API floor's route")
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args()

    started = time.monotonic()
    url = prepare(fresh=True)
    from apps.accounts.services import api_key_create, user_create

    user = user_create(email="load@synchronex.local", tier="enterprise")
    user.daily_limit, user.minute_limit = 1_000_000_000, 100_000_000
    user.save()
    _, token = api_key_create(user=user, name="load", scope="write")
    from django.db import connections

    connections.close_all()

    with redis_server() as redis_url:
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "LOG_LEVEL": "WARNING",
            "DB_CONN_MAX_AGE": "60",
        }
        with gunicorn(env, workers=args.workers) as base, celery_worker(env, name="load"):
            seed(base, token, args.decisions)
            print(f"stack up and seeded in {time.monotonic() - started:.0f} s: {base}, {args.workers} gunicorn workers")
            # Each step runs the mix, the floor and the trivial view back to back, so the three
            # figures it compares are measured within a minute of each other: this machine's
            # speed drifts over minutes, and running all steps of one mode before the next
            # moved the share by a third between runs of the same code.
            mix, floor, trivial = [], [], []
            for users in args.users.split(","):
                mix += run_generator(base, token, "mix", args, users)
                floor += run_generator(base, token, args.floor, args, users)
                trivial += run_generator(base, token, "trivial", args, users)
    summary = report(mix, floor, trivial, args.floor)
    if args.json:
        figures = {"mix": mix, "floor": floor, "trivial": trivial, "summary": summary}
        Path(args.json).write_text(json.dumps(figures, indent=2))
    print(f"whole run: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
