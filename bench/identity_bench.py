"""GET /api/v1/memory/identity latency next to a trivial JSON view on the same server.

Run: .venv/bin/python bench/identity_bench.py [--requests 3000]
Uses its own database (synchronex_bench on the embedded server, or BENCH_DATABASE_URL) and a
gunicorn server with two workers. Requests alternate between the two routes, one at a time, so
both see the same machine load. Target: identity p50 within 1.5x of the trivial view. It also
prints each route's time inside Django (the ``Server-Timing`` header of bench/timing.py) and the
time around it (client, socket, gunicorn), and how much server time 1.5x leaves the identity read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import percentiles, prepare, row, sample, server  # noqa: E402

KERNEL = {
    "identity": {
        "name": "Ada Founder",
        "company": "Lovelace Labs",
        "location": "Lisbon",
        "timezone": "Europe/Lisbon",
        "role": "Founder, product and engineering",
        "industry": "Developer tools",
    },
    "products": [
        {"name": f"Product {n}", "status": "active", "summary": "An AI tool for teams " * 3, "url": f"https://p{n}.dev"}
        for n in range(6)
    ],
    "constraints": {
        "always": [f"Always rule number {n}: write tests first and keep modules small" for n in range(12)],
        "never": [f"Never rule number {n}: do not ship without a migration plan" for n in range(12)],
        "communication_style": "Direct, concise, no filler. Show the command you ran.",
    },
    "model_preferences": {
        "providers": ["anthropic", "openai"],
        "default_model": "claude-sonnet",
        "routing": {"code": "claude-opus"},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()

    url = prepare()
    from apps.accounts.models import User
    from apps.accounts.services import api_key_create, user_create

    email = "bench-identity@synchronex.local"
    user = User.objects.filter(email=email).first() or user_create(email=email, tier="enterprise")
    user.daily_limit, user.minute_limit = 10_000_000, 1_000_000
    user.save()
    _, key = api_key_create(user=user, name="bench", scope="write")
    headers = {"Authorization": f"Bearer {key}"}

    import requests

    with server(url) as base:
        session = requests.Session()
        put = session.put(base + "/api/v1/memory/identity", json=KERNEL, headers=headers, timeout=30)
        assert put.status_code == 200, put.text
        for _ in range(200):  # warm both routes and every worker
            sample(session, base + "/bench/trivial")
            sample(session, base + "/api/v1/memory/identity", headers=headers)
        trivial, identity, trivial_server, identity_server = [], [], [], []
        for _ in range(args.requests):
            trivial.append(sample(session, base + "/bench/trivial", server=trivial_server))
            identity.append(sample(session, base + "/api/v1/memory/identity", headers=headers, server=identity_server))
    t, i = percentiles(trivial), percentiles(identity)
    print(row("GET /bench/trivial (baseline)", t))
    print(row("GET /api/v1/memory/identity", i))
    print(
        f"ratio identity/trivial: p50 {i['p50'] / t['p50']:.2f}x  p95 {i['p95'] / t['p95']:.2f}x  (target p50 <= 1.5x)"
    )
    # Where the time goes: inside Django (Server-Timing) and around it (client, socket, gunicorn).
    ts, ids = percentiles(trivial_server), percentiles(identity_server)
    totals, insides = trivial + identity, trivial_server + identity_server
    outside = percentiles([total - inside for total, inside in zip(totals, insides, strict=True)])
    print(row("  trivial, inside Django", ts))
    print(row("  identity, inside Django", ids))
    print(row("  either, outside Django", outside))
    budget = 1.5 * t["p50"] - outside["p50"]
    print(f"1.5x leaves the identity read {budget:.2f} ms inside Django at p50; it took {ids['p50']:.2f} ms")


if __name__ == "__main__":
    main()
