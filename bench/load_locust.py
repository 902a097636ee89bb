"""The load generator of bench/load_bench.py: locust, driven as a library, in its own process.

    python bench/load_locust.py --host URL --token sx_live_… --mode mix|identity|scope|trivial \\
        --users 8,32,64 --seconds 20 --warmup 4 --products 10

For each concurrency step it starts that many closed-loop users (no think time), lets them warm
up, resets the statistics, measures for ``--seconds``, and prints one JSON line per step: per
route, requests, failures, requests per second and p50/p95/p99 (locust's percentiles: whole
milliseconds below 100 ms), plus this process's CPU use (the generator shares the machine).
It runs in its own process because locust patches the standard library with gevent.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from urllib.parse import quote  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402
from locust import FastHttpUser, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

WORDS = ["storage", "pricing", "latency", "postgres", "onboarding", "billing", "search", "cache", "deploy", "auth"]


class Config:
    token = ""
    products: list[str] = []


class ApiUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {Config.token}"}
        self.n = 0

    def product(self) -> str:
        return random.choice(Config.products)

    def get(self, path: str, name: str):
        self.client.get(path, headers=self.headers, name=name)

    def post(self, path: str, body: dict, name: str):
        self.client.post(path, json=body, headers=self.headers, name=name)


class MixUser(ApiUser):
    """80% reads, 20% writes, as an assistant fleet would use the service."""

    @task(25)
    def identity(self):
        self.get("/api/v1/memory/identity", "GET identity")

    @task(20)
    def product_state(self):
        self.get(f"/api/v1/memory/product/{quote(self.product(), safe='')}/state", "GET product state")

    @task(20)
    def decision_search(self):
        query = quote(" ".join(random.sample(WORDS, 2)))
        product = quote(self.product(), safe="")
        self.get(f"/api/v1/memory/decisions/search?q={query}&product={product}&limit=10", "GET decision search")

    @task(15)
    def kernel_export(self):
        query = quote(random.choice(WORDS))
        product = quote(self.product(), safe="")
        self.get(f"/api/v1/kernel/export?product={product}&query={query}&max_tokens=1500", "GET kernel export")

    @task(8)
    def decision(self):
        self.n += 1
        words = " ".join(random.sample(WORDS, 3))
        body = {
            "decision": f"Use {words} for release {self.n}",
            "product_name": self.product(),
            "reasoning": f"Measured under load: {words}.",
            "tags": random.sample(WORDS, 2),
        }
        self.post("/api/v1/memory/decisions", body, "POST decision")

    @task(6)
    def product_update(self):
        self.n += 1
        body = {"status": "active", "next_session_starts_here": f"Pick up step {self.n} of the rollout."}
        self.post(f"/api/v1/memory/product/{quote(self.product(), safe='')}/state", body, "POST product state")

    @task(6)
    def ingest(self):
        self.n += 1
        signal = {"type": random.choice(["commit", "deploy", "note", "question"]), "title": f"Event {self.n}"}
        self.post(f"/api/v1/ingest/{quote(self.product(), safe='')}", signal, "POST ingest")


class IdentityUser(ApiUser):
    """The API's floor: its cheapest authenticated read (the key statement, the quota, and the
    rendered Identity Kernel body remembered while the account's context stamp holds)."""

    @task
    def identity(self):
        self.get("/api/v1/memory/identity", "GET identity")


class ScopeUser(ApiUser):
    """The floor of the earlier sessions: the active scope and the caller's workspaces."""

    @task
    def scope(self):
        self.get("/api/v1/scope", "GET scope")


class TrivialUser(ApiUser):
    """The ceiling: a JSON view through the same middleware, no auth, no query."""

    @task
    def trivial(self):
        self.client.get("/bench/trivial", name="GET /bench/trivial")


USER_CLASSES = {"mix": MixUser, "identity": IdentityUser, "scope": ScopeUser, "trivial": TrivialUser}


def measure(env: Environment, users: int, warmup: float, seconds: float) -> dict:
    runner = env.runner
    runner.start(users, spawn_rate=users)
    gevent.sleep(warmup)
    env.stats.reset_all()
    me = psutil.Process()
    cpu_before, started = sum(me.cpu_times()[:2]), time.monotonic()
    gevent.sleep(seconds)
    elapsed = time.monotonic() - started
    cpu = (sum(me.cpu_times()[:2]) - cpu_before) / elapsed
    routes = {}
    for (name, _method), entry in sorted(env.stats.entries.items()):
        routes[name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "rps": entry.num_requests / elapsed,
            "p50": entry.get_response_time_percentile(0.50),
            "p95": entry.get_response_time_percentile(0.95),
            "p99": entry.get_response_time_percentile(0.99),
        }
    total = env.stats.total
    errors = [f"{e.method} {e.name}: {e.error} ×{e.occurrences}" for e in env.stats.errors.values()]
    return {
        "users": users,
        "seconds": elapsed,
        "routes": routes,
        "total": {
            "requests": total.num_requests,
            "failures": total.num_failures,
            "rps": total.num_requests / elapsed,
            "p50": total.get_response_time_percentile(0.50),
            "p95": total.get_response_time_percentile(0.95),
            "p99": total.get_response_time_percentile(0.99),
        },
        "errors": errors[:10],
        "generator_cpu": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--mode", choices=sorted(USER_CLASSES), required=True)
    parser.add_argument("--users", default="8,32,64")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=4)
    parser.add_argument("--products", default="")
    args = parser.parse_args()
    if not args.host.startswith(("http://127.", "http://localhost")):
        raise SystemExit("load is only ever sent to this machine (loopback)")
    Config.token = args.token
    Config.products = [p for p in args.products.split("|") if p]
    env = Environment(user_classes=[USER_CLASSES[args.mode]], host=args.host)
    env.create_local_runner()
    for users in (int(u) for u in args.users.split(",")):
        print(json.dumps({"mode": args.mode, **measure(env, users, args.warmup, args.seconds)}), flush=True)
    env.runner.quit()


if __name__ == "__main__":
    main()
