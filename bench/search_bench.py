"""Decision search at 100,000 decisions in one space, over HTTP, next to an unindexed ILIKE scan.

Run:  .venv/bin/python bench/search_bench.py [--rows 100000] [--rounds 3] [--reseed]

It uses its own database, ``synchronex_bench`` on the embedded server (created and migrated when
missing; ``BENCH_DATABASE_URL`` points it elsewhere), so development data is never touched. It
seeds ``--rows`` generated decisions into one space with COPY (once; ``--reseed`` redoes it),
starts ``.venv/bin/gunicorn synchronex.wsgi`` with two workers on a free port (``bench.settings``:
the project's settings and a ``Server-Timing`` header, bench/timing.py), and sends a fixed mix of
varied queries (single words, several words, quoted phrases, typos, product/tag/date
filters, propagation, no q) one at a time. Printed, all from this one run on the same rows:

- ``search over HTTP``: GET /api/v1/memory/decisions/search (auth, quota, scope, ranking, JSON),
  and under it the same requests' time inside Django (``Server-Timing``) and around it (client,
  socket, gunicorn);
- ``HTTP floor``: GET /api/v1/memory/products?limit=1 on the same server (auth + quota + a tiny
  read), so the search's own cost can be read off;
- ``decision_search() in-process``: the selector alone, no HTTP;
- ``baseline ILIKE``: the same queries as ``(decision || ' ' || reasoning) ILIKE '%word%'`` per word,
  newest first with a total count — the unindexed scan a naive search would do (SQL only);
- ``same queries, 1,000-decision space``: the selector on a second, small space seeded into the
  same table (``--small``), which should cost what its own size costs, not the large space's.

With ``--vectors`` every decision also gets a random 384-dimension vector (HNSW index rebuilt)
and the in-process selector is timed again with a stand-in provider, so the vector branch and
the fusion run (the server itself has no provider, as in the default deployment).

Targets: search p50 < 15 ms and p95 < 40 ms at 100,000 decisions.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.timing import server_ms  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DB_NAME", "synchronex_bench")
BENCH_EMAIL = "bench-decisions@synchronex.local"
# A second space in the same table: its searches should cost what its own size costs, whatever
# the large space next to it holds (the text indexes lead with the space).
SMALL_EMAIL = "bench-small-space@synchronex.local"
SEED = 20260503

PRODUCTS = [
    "Atlas", "Billing", "Mobile App", "Docs Site", "Marketing Site", "Data Pipeline", "Admin Console",
    "Public API", "Onboarding", "Search", "Notifications", "Analytics", "Desktop Client", "Integrations",
    "Auth Service", "Payments", "Support Desk", "Growth Experiments", "Internal Tools", "AI Assistant",
]  # fmt: skip
TECH = [
    "PostgreSQL", "Redis", "Celery", "RabbitMQ", "Kafka", "SQLite", "DynamoDB", "Stripe", "Paddle",
    "Lemon Squeezy", "Fly.io", "Hetzner", "AWS Lambda", "Cloudflare Workers", "Vercel", "Netlify", "Docker",
    "Kubernetes", "Nomad", "Terraform", "Pulumi", "Ansible", "GitHub Actions", "GitLab CI", "Sentry",
    "Grafana", "Prometheus", "Datadog", "OpenTelemetry", "HTMX", "React", "Svelte", "Vue", "Tailwind",
    "Django", "FastAPI", "Flask", "Rails", "Next.js", "Remix", "Go", "Rust", "TypeScript", "Elixir",
    "pgvector", "Elasticsearch", "Meilisearch", "Typesense", "OpenAI", "Anthropic", "Mistral", "Ollama",
    "S3", "Cloudflare R2", "Backblaze", "Mailgun", "Postmark", "SendGrid", "Twilio", "Intercom", "Plausible",
    "PostHog", "Mixpanel", "Segment", "Auth0", "Clerk", "passkeys", "SAML", "WebAuthn", "JWT", "gRPC",
    "GraphQL", "WebSockets", "server-sent events", "LaunchDarkly", "Unleash", "Playwright", "Cypress",
    "pytest", "Vitest", "ruff", "mypy", "Nginx", "Caddy", "Traefik", "HAProxy", "Varnish", "Bunny CDN",
    "Fastly", "Supabase", "Neon", "PlanetScale", "Turso", "ClickHouse", "DuckDB", "BigQuery", "Snowflake",
    "dbt", "Airflow", "Dagster", "Temporal", "Zapier", "n8n", "Retool", "Notion", "Linear", "Jira",
    "Slack", "Discord", "Figma", "Storybook", "Expo", "Flutter", "SwiftUI", "Kotlin", "Tauri", "Electron",
]  # fmt: skip
VERBS = [
    "Use {t}", "Adopt {t}", "Switch to {t}", "Drop {t}", "Keep {t}", "Move to {t}", "Standardise on {t}",
    "Replace {a} with {t}", "Evaluate {t}", "Postpone {t}", "Self-host {t}", "Pay for {t}", "Pilot {t}",
]  # fmt: skip
PURPOSES = [
    "for background jobs", "for billing", "for search", "for transactional email", "to cut p95 latency",
    "for the onboarding flow", "to reduce hosting cost", "for error tracking", "for product analytics",
    "for authentication", "for the public API", "for caching", "for file storage", "for observability",
    "for end-to-end tests", "for deployments", "for the admin console", "for rate limiting",
    "for feature flags", "for the mobile release", "for customer support", "for data exports",
    "for invoices and VAT", "for embeddings", "for the recommendation engine", "for scheduled reports",
    "for webhooks", "for audit logs", "for GDPR requests", "for the status page", "for load testing",
    "for staging environments", "for secrets management", "for CI speed", "for the design system",
    "for localisation", "for push notifications", "for the data warehouse", "for A/B tests",
    "for SSO with enterprise customers",
]  # fmt: skip
REASONS = [
    "It cut our monthly bill by {n} percent.",
    "{a} was too expensive at our scale.",
    "The team already knows {t} well.",
    "We hit hard limits with {a} at {n} requests per second.",
    "Fewer moving parts means fewer pages at night.",
    "Customers asked for it in {n} support tickets last quarter.",
    "{t} has first-class support for what we need.",
    "Migration from {a} takes about {n} days.",
    "Latency dropped from {n}0 ms to {n} ms in the prototype.",
    "Vendor lock-in is acceptable here because the data stays exportable.",
    "We will revisit once we pass {n}k monthly active users.",
    "Hiring for {t} is easier than for {a}.",
    "Security review found no blockers.",
    "The free tier covers us until the next funding round.",
    "It keeps the deploy pipeline under {n} minutes.",
    "Compliance needs an EU region, which {t} offers.",
    "Operational burden of {a} was eating a day per week.",
    "Benchmarks showed {t} handling {n}x the load.",
    "Documentation quality of {t} is excellent.",
    "It unblocks the pricing experiment.",
]
TAGS = [
    "infra", "database", "billing", "payments", "frontend", "backend", "performance", "cost", "security",
    "auth", "hiring", "process", "pricing", "marketing", "analytics", "observability", "testing", "devops",
    "ai", "search", "email", "mobile", "api", "ux", "legal", "compliance", "gdpr", "onboarding", "growth",
    "support", "docs", "data", "reliability", "vendor", "architecture", "tooling", "release", "caching",
    "storage", "queues",
]  # fmt: skip

COMMON = ["cost", "latency", "team", "migration", "pricing"]

COLUMNS = (
    "id", "space_id", "product_id", "decision", "reasoning", "tags", "affects_products", "alternatives",
    "supersedes_id", "decided_at", "created_at", "source", "embedding_model",
)  # fmt: skip


# -- database ------------------------------------------------------------------------------------
def bench_database_url() -> str:
    """``BENCH_DATABASE_URL``, or the ``synchronex_bench`` database on the embedded server."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    import psycopg

    from synchronex.embedded_db import ensure_running

    db = ensure_running(ROOT)
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            c.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return f"postgres://{db['USER']}@{quote(db['HOST'], safe='')}:{db['PORT']}/{BENCH_DB}"


def prepare(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "synchronex.settings")
    import django

    django.setup()


# -- data ----------------------------------------------------------------------------------------
def _decision_rows(rng: random.Random, *, space_id, products: dict[str, uuid.UUID], rows: int, now: datetime):
    names = list(products)
    ids = [uuid.uuid4() for _ in range(rows)]
    by_product: dict[str, list[int]] = {name: [] for name in names}
    superseded: set[int] = set()
    for index, pk in enumerate(ids):
        product = names[int(rng.paretovariate(1.2)) % len(names)]  # a few busy products, a long tail
        tech, alt = rng.sample(TECH, 2)
        text = rng.choice(VERBS).format(t=tech, a=alt) + " " + rng.choice(PURPOSES)
        if rng.random() < 0.3:
            text += f" ({rng.choice(['v', 'phase ', 'Q'])}{rng.randint(1, 4)})"
        reasoning = " ".join(
            rng.choice(REASONS).format(t=tech, a=alt, n=rng.randint(2, 90)) for _ in range(rng.randint(1, 4))
        )
        tags = rng.sample(TAGS, rng.randint(1, 4))
        affects = rng.sample([n for n in names if n != product], rng.randint(1, 2)) if rng.random() < 0.2 else []
        alternatives = rng.sample(TECH, rng.randint(0, 3))
        decided = now - timedelta(days=rng.uniform(0, 3 * 365))
        supersedes = None
        earlier = by_product[product]
        if earlier and rng.random() < 0.03:
            target = earlier[rng.randrange(len(earlier))]
            if target not in superseded:
                superseded.add(target)
                supersedes = ids[target]
        earlier.append(index)
        yield (
            pk, space_id, products[product], text, reasoning, tags, affects, alternatives,
            supersedes, decided, now, "bench", "",
        )  # fmt: skip


def seed(*, rows: int, reseed: bool, email: str = BENCH_EMAIL, rng_seed: int = SEED):
    """A bench user (``email``), a key and its space with ``rows`` decisions (seeded once, with COPY;
    ``vacuum`` afterwards)."""
    from django.db import connection

    from apps.accounts.models import User
    from apps.accounts.services import api_key_create, user_create
    from apps.decisions.models import Decision
    from apps.products.models import ProductState
    from apps.scopes.services import space_ensure_personal

    user = User.objects.filter(email=email).first() or user_create(email=email, tier="enterprise")
    user.tier, user.daily_limit, user.minute_limit = "enterprise", 100_000_000, 10_000_000
    user.save()
    space = space_ensure_personal(user=user)
    _, key = api_key_create(user=user, name="search bench", scope="read")
    have = Decision.objects.filter(space=space).count()
    if have == rows and not reseed:
        print(f"Reusing {have} seeded decisions of {email} (--reseed to regenerate).")
        return space, key
    started = time.perf_counter()
    Decision.objects.filter(space=space).delete()
    ProductState.objects.filter(space=space).delete()
    now = datetime.now(UTC)
    products = {name: ProductState.objects.create(space=space, name=name).id for name in PRODUCTS}
    rng = random.Random(rng_seed)
    with connection.cursor() as cursor:
        copy_sql = f"COPY {Decision._meta.db_table} ({', '.join(COLUMNS)}) FROM STDIN"
        with cursor.connection.transaction(), cursor.copy(copy_sql) as copy:
            for record in _decision_rows(rng, space_id=space.id, products=products, rows=rows, now=now):
                copy.write_row(record)
    print(f"Seeded {rows} decisions of {email} in {time.perf_counter() - started:.1f} s.")
    return space, key


def vacuum() -> None:
    """Same physical state every run, once all spaces are seeded: fresh statistics, and every page
    all-visible (a COPY, or an earlier ``--vectors`` run, leaves pages whose index-only counts
    cost heap fetches)."""
    from django.db import connection

    from apps.decisions.models import Decision
    from apps.products.models import ProductState

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Decision._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {ProductState._meta.db_table}")


VECTOR_MODEL, VECTOR_SIZE = "bench-random-384", 384


def seed_vectors(space) -> None:
    """Random 384-dimension vectors on every decision (``--vectors``), HNSW index rebuilt after."""
    from django.db import connection

    from apps.decisions.models import Decision

    table = Decision._meta.db_table
    if (
        Decision.objects.filter(space=space, embedding_model=VECTOR_MODEL).count()
        == Decision.objects.filter(space=space).count()
    ):
        return
    started = time.perf_counter()
    index = f"decision_embedding_hnsw_{VECTOR_SIZE}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef(%s::regclass)", [index])
        definition = cursor.fetchone()[0]
        cursor.execute(f"DROP INDEX {index}")  # building once is far faster than 100,000 inserts
        cursor.execute(
            f"UPDATE {table} AS d SET embedding_model = %s, embedding_dimensions = %s, embedding = ("
            f"  SELECT array_agg(random() - 0.5)::vector FROM generate_series(1, %s) WHERE d.id IS NOT NULL"
            f") WHERE space_id = %s",
            [VECTOR_MODEL, VECTOR_SIZE, VECTOR_SIZE, space.id],
        )
        cursor.execute(f"VACUUM FULL {table}")  # the update left every old row version behind
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(definition)
        cursor.execute(f"VACUUM ANALYZE {table}")
    print(
        f"Embedded {Decision.objects.filter(space=space).count()} decisions in {time.perf_counter() - started:.1f} s."
    )


class RandomProvider:
    """Stands in for a real provider in this process only: random query vectors of the seeded model."""

    name, model, dimensions = "bench", VECTOR_MODEL, VECTOR_SIZE

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[self.rng.random() - 0.5 for _ in range(VECTOR_SIZE)] for _ in texts]


# -- the query mix -------------------------------------------------------------------------------
def query_mix(rng: random.Random, count: int) -> list[tuple[str, dict]]:
    """Varied, realistic searches; the same list for every measured path."""

    def typo(word: str) -> str:
        i = rng.randrange(1, len(word) - 1)
        return word[:i] + word[i + 1 :] if rng.random() < 0.5 else word[:i] + word[i + 1] + word[i] + word[i + 2 :]

    one_word = [t for t in TECH if " " not in t and "." not in t and len(t) > 4]
    kinds = [
        ("one term", lambda: {"q": rng.choice(TECH)}),
        ("two terms", lambda: {"q": f"{rng.choice(TECH)} {rng.choice(PURPOSES).split()[-1]}"}),
        ("purpose words", lambda: {"q": rng.choice(PURPOSES).removeprefix("for ").removeprefix("to ")}),
        ("quoted phrase", lambda: {"q": f'"{rng.choice(PURPOSES)}"'}),
        ("typo (trigram)", lambda: {"q": typo(rng.choice(one_word))}),
        ("q + product", lambda: {"q": rng.choice(TECH), "product": rng.choice(PRODUCTS)}),
        ("q + product direct", lambda: {"q": rng.choice(TECH), "product": rng.choice(PRODUCTS), "include_related": "false"}),  # noqa: E501
        ("common word + tag", lambda: {"q": rng.choice(COMMON), "tags": rng.choice(TAGS)}),
        ("q + since + half-life", lambda: {"q": rng.choice(TECH), "since": "2025-06-01", "half_life_days": "30"}),
        ("q + superseded, limit 50", lambda: {"q": rng.choice(TECH), "include_superseded": "true", "limit": "50"}),
        ("q + token_budget", lambda: {"q": rng.choice(TECH), "token_budget": "2000"}),
        ("no q, product", lambda: {"product": rng.choice(PRODUCTS)}),
        ("no q, two tags", lambda: {"tags": ",".join(rng.sample(TAGS, 2))}),
        ("no q", dict),
    ]  # fmt: skip
    return [(kinds[i % len(kinds)][0], kinds[i % len(kinds)][1]()) for i in range(count)]


def ilike_sql(params: dict) -> tuple[str, list]:
    words = [w.strip('"') for w in (params.get("q") or "").split() if w.strip('"')]
    where = " AND ".join(["(decision || ' ' || reasoning) ILIKE %s"] * len(words)) or "TRUE"
    sql = (
        "SELECT id, count(*) OVER () FROM decisions_decision "
        f"WHERE space_id = %s AND {where} ORDER BY decided_at DESC LIMIT 20"
    )
    return sql, [f"%{w}%" for w in words]


# -- measuring -----------------------------------------------------------------------------------
def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def stats(values: list[float]) -> dict:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(values), "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "mean": statistics.fmean(values)}


def line(label: str, s: dict) -> str:
    return f"{label:<34} n={s['n']:<5} p50={s['p50']:7.2f} ms  p95={s['p95']:7.2f} ms  p99={s['p99']:7.2f} ms"


@contextmanager
def gunicorn(url: str):
    from tests.support.servers import free_port, wait_for_http

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "bench.settings"}
    log = open(ROOT / "var" / "search-bench-gunicorn.log", "w")  # noqa: SIM115
    cmd = [str(ROOT / ".venv/bin/gunicorn"), "synchronex.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/healthz", timeout=60)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=280, help="distinct queries per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument(
        "--small", type=int, default=1000, help="decisions of a second, small space in the same table (0: none)"
    )
    parser.add_argument(
        "--vectors", action="store_true", help="also embed every decision (random 384-d) and time the vector branch"
    )
    args = parser.parse_args()

    url = bench_database_url()
    prepare(url)
    space, key = seed(rows=args.rows, reseed=args.reseed)
    small_space = None
    if args.small:
        small_space, _ = seed(rows=args.small, reseed=args.reseed, email=SMALL_EMAIL, rng_seed=SEED + 3)
    vacuum()
    if args.vectors:
        seed_vectors(space)

    from django.db import connection

    from apps.decisions.api.serializers import parse_search_params
    from apps.decisions.selectors import decision_search

    queries = query_mix(random.Random(SEED + 1), args.queries)
    headers = {"Authorization": f"Bearer {key}"}
    http, inside, floor, inproc, ilike, small = [], [], [], [], [], []
    by_kind: dict[str, list[float]] = {}
    with gunicorn(url) as base, requests.Session() as session:
        search_url, floor_url = base + "/api/v1/memory/decisions/search", base + "/api/v1/memory/products"

        def get(target, params):
            response = session.get(target, params=params, headers=headers, timeout=30)
            if response.status_code != 200:
                raise RuntimeError(f"{target} {params} → {response.status_code}: {response.text[:300]}")
            return response

        for _, params in queries:  # warm both workers: connections, caches, tokenizer tables
            get(search_url, params)
            get(floor_url, {"limit": 1})
        for _ in range(args.rounds):
            for kind, params in queries:
                started = time.perf_counter()
                response = get(search_url, params)
                elapsed = (time.perf_counter() - started) * 1000
                http.append(elapsed)
                inside.append(server_ms(response))
                by_kind.setdefault(kind, []).append(elapsed)
                floor.append(timed(lambda: get(floor_url, {"limit": 1})))

    from django.http import QueryDict

    from synchronex.api.tokens import count_tokens

    count_tokens("warm the tokenizer tables")  # loaded once per process, like the server's workers
    for _ in range(args.rounds):
        for _, params in queries:
            query = QueryDict(mutable=True)
            for name, value in params.items():
                query[name] = value
            kwargs, _ = parse_search_params(query)
            limit = int(params.get("limit", 20))
            inproc.append(timed(lambda kw=kwargs, n=limit: decision_search(space=space, limit=n, **kw)))
            if small_space is not None:
                small.append(timed(lambda kw=kwargs, n=limit: decision_search(space=small_space, limit=n, **kw)))
            sql, sql_params = ilike_sql(params)
            with connection.cursor() as cursor:
                ilike.append(timed(lambda c=cursor, s=sql, p=sql_params: (c.execute(s, [space.id, *p]), c.fetchall())))

    semantic: list[float] = []
    if args.vectors:
        from apps.memory import embeddings

        provider = RandomProvider(SEED + 2)
        embeddings.provider_for_space = lambda space: provider  # this process only; the server has none
        with_q = [params for _, params in queries if params.get("q")]
        for _ in range(args.rounds):
            for params in with_q:
                query = QueryDict(mutable=True)
                for name, value in params.items():
                    query[name] = value
                kwargs, _ = parse_search_params(query)
                started = time.perf_counter()
                result = decision_search(space=space, limit=int(params.get("limit", 20)), **kwargs)
                semantic.append((time.perf_counter() - started) * 1000)
                assert result.semantic, "the vector branch did not run"

    print(f"\nDecision search, {args.rows:,} decisions in one space, {len(queries)} queries × {args.rounds} rounds")
    print(line("search over HTTP (gunicorn -w 2)", stats(http)))
    print(line("  inside Django (Server-Timing)", stats(inside)))
    print(line("  outside (client, socket, gunicorn)", stats([a - b for a, b in zip(http, inside, strict=True)])))
    for kind in by_kind:
        print(line(f"  {kind}", stats(by_kind[kind])))
    print(line("HTTP floor (products?limit=1)", stats(floor)))
    print(line("decision_search() in-process", stats(inproc)))
    if semantic:
        print(line("  … with vectors (384-d, HNSW)", stats(semantic)))
    print(line("baseline ILIKE scan (SQL only)", stats(ilike)))
    if small:
        print(line(f"same queries, {args.small:,}-decision space", stats(small)))
    s = stats(http)
    verdict = "met" if s["p50"] < 15 and s["p95"] < 40 else "NOT met"
    print(f"\nTargets p50 < 15 ms, p95 < 40 ms over HTTP: {verdict}.")


if __name__ == "__main__":
    main()
