"""What each route of the load mix costs in one process, next to the trivial view.

Run:  .venv/bin/python bench/route_costs.py [--requests 200] [--profile "GET kernel export"]

No HTTP and no concurrency: Django's test client calls the project (middleware, DRF, the
database) in this process, on the benchmark database (``synchronex_bench``, or
``BENCH_DATABASE_URL``), with the load benchmark's data (a full kernel, 10 products with state,
600 decisions; seeded once into its own account). Each route runs ``--requests`` times after a
warm-up; printed: milliseconds per request, the ratio to ``/bench/trivial``, and the mix weighted
as bench/load_locust.py weighs it. ``--profile ROUTE`` adds a cProfile of that route (the
project's own functions) and the SQL of one request. It tells where the load benchmark's time
goes, route by route.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
os.environ.setdefault("DB_CONN_MAX_AGE", "600")  # persistent connections, as in production
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bench.harness import prepare  # noqa: E402
from bench.load_bench import PRODUCTS, TOPICS, seed_requests  # noqa: E402

EMAIL = "bench-routes@synchronex.local"
# The load mix's weights (bench/load_locust.py MixUser).
WEIGHTS = {
    "GET identity": 25,
    "GET product state": 20,
    "GET decision search": 20,
    "GET kernel export": 15,
    "POST decision": 8,
    "POST product state": 6,
    "POST ingest": 6,
}


def seed(client) -> None:
    for method, path, body in seed_requests(600):
        response = client.generic(method, path, json.dumps(body), content_type="application/json")
        assert response.status_code < 300, response.content[:300]


def routes(client) -> dict:
    rng = random.Random(1)
    counter = iter(range(10**9))

    def product() -> str:
        return quote(rng.choice(PRODUCTS), safe="")

    def words(n: int) -> str:
        return quote(" ".join(rng.sample(TOPICS, n)))

    as_json = "application/json"
    return {
        "GET identity": lambda: client.get("/api/v1/memory/identity"),
        "GET product state": lambda: client.get(f"/api/v1/memory/product/{product()}/state"),
        "GET decision search": lambda: client.get(
            f"/api/v1/memory/decisions/search?q={words(2)}&product={product()}&limit=10"
        ),
        "GET kernel export": lambda: client.get(
            f"/api/v1/kernel/export?product={product()}&query={words(1)}&max_tokens=1500"
        ),
        "POST decision": lambda: client.post(
            "/api/v1/memory/decisions",
            {"decision": f"Use {words(3)} for release {next(counter)}", "product_name": rng.choice(PRODUCTS)},
            content_type=as_json,
        ),
        "POST product state": lambda: client.post(
            f"/api/v1/memory/product/{product()}/state",
            {"status": "active", "next_session_starts_here": f"Pick up step {next(counter)}."},
            content_type=as_json,
        ),
        "POST ingest": lambda: client.post(
            f"/api/v1/ingest/{product()}", {"type": "note", "title": f"Event {next(counter)}"}, content_type=as_json
        ),
        "GET scope": lambda: client.get("/api/v1/scope"),
        "GET /bench/trivial": lambda: client.get("/bench/trivial"),
    }


def profile(route) -> None:
    import cProfile
    import pstats

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(100):
        route()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats("apps/|synchronex/", 30)
    with CaptureQueriesContext(connection) as captured:
        route()
    for query in captured.captured_queries:
        print(query["time"], " ".join(query["sql"].split())[:140])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", choices=[*WEIGHTS, "GET scope"])
    args = parser.parse_args()

    prepare()
    from django.test import Client

    from apps.accounts.models import User
    from apps.accounts.services import api_key_create, user_create

    user = User.objects.filter(email=EMAIL).first()
    fresh = user is None
    if fresh:
        user = user_create(email=EMAIL, tier="enterprise")
    user.daily_limit, user.minute_limit = 10_000_000, 1_000_000
    user.save()
    _, key = api_key_create(user=user, name="route costs", scope="write")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    if fresh:
        seed(client)

    table = routes(client)
    costs = {}
    for name, route in table.items():
        for _ in range(20):
            response = route()
            assert response.status_code < 300, (name, response.status_code, response.content[:300])
        started = time.perf_counter()
        for _ in range(args.requests):
            route()
        costs[name] = (time.perf_counter() - started) / args.requests * 1000
    trivial = costs["GET /bench/trivial"]
    for name, ms in costs.items():
        print(f"{name:24s} {ms:7.2f} ms  {ms / trivial:6.1f}x trivial")
    mix = sum(costs[name] * weight for name, weight in WEIGHTS.items()) / sum(WEIGHTS.values())
    print(f"{'weighted load mix':24s} {mix:7.2f} ms  {mix / trivial:6.1f}x trivial")
    if args.profile:
        profile(table[args.profile])


if __name__ == "__main__":
    main()
