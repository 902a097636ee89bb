"""Environment-only settings: the embedded default, and production mode's refusals."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
PROD_ENV = {
    "SYNCHRONEX_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://synchronex:pw@db.internal:5432/synchronex",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "FERNET_KEYS": "lT3lHxZ8H9mX1FJ3cYyVq0o8n0pYQm6c4t0b4m2W2aA=",
    "ALLOWED_HOSTS": "synchronex.ai",
    "PUBLIC_BASE_URL": "https://synchronex.ai",
    "TRUSTED_PROXY_HOPS": "1",
}


def run_manage(*args, env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in PROD_ENV}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "missing",
    [
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "FERNET_KEYS",
        "ALLOWED_HOSTS",
        "PUBLIC_BASE_URL",
        "TRUSTED_PROXY_HOPS",
    ],
)
def test_production_refuses_to_start_without_its_secrets(missing):
    env = {k: v for k, v in PROD_ENV.items() if k != missing}
    result = run_manage("check", env_overrides=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_refuses_the_development_secret_key():
    result = run_manage("check", env_overrides={**PROD_ENV, "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize("value", ["http://synchronex.ai", "synchronex.ai", "https://"])
def test_production_refuses_a_public_base_url_that_is_not_an_https_origin(value):
    # It becomes the OAuth issuer and resource identifiers: clients would be told to send tokens
    # in the clear, or to a server that is not this one.
    result = run_manage("check", env_overrides={**PROD_ENV, "PUBLIC_BASE_URL": value})
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL" in result.stderr


def test_a_url_of_another_kind_is_refused_without_a_guessed_article():
    from synchronex.settings import url_problem

    # Not "must be a https:// URL".
    assert url_problem("http://synchronex.ai", {"https"}, require_host=True) == (
        "must be a URL starting with https://, not http://"
    )
    assert url_problem("garbage", {"redis", "rediss"}, require_host=False) == (
        "must be a URL starting with redis:// or rediss://, not a value without a scheme"
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"REDIS_URL": "redis://cache.internal:6379/0"}, "socket_timeout"),
        (
            {"REDIS_URL": "redis://cache.internal:6379/0", "CELERY_BROKER_URL": "sqla+postgresql+psycopg://u@db/x"},
            "pool_pre_ping",
        ),
        ({"REDIS_URL": "", "CELERY_BROKER_URL": "redis://broker.internal:6379/1"}, "socket_timeout"),
        ({"REDIS_URL": ""}, "pool_pre_ping"),
    ],
)
def test_broker_transport_options_follow_the_broker_in_use(overrides, expected):
    """A Redis cache beside the database's broker must not hand Redis socket options to SQLAlchemy."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "synchronex.settings", **overrides})
    code = "from django.conf import settings; print(sorted(settings.CELERY_BROKER_TRANSPORT_OPTIONS))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    options = result.stdout.strip().splitlines()[-1]
    assert expected in options
    assert ("pool_pre_ping" in options) != ("socket_timeout" in options)


def test_check_deploy_is_clean_with_production_variables():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("value", ["prod", "Production", "staging", "production "])
def test_an_unknown_synchronex_env_is_refused(value):
    # A misspelt "production" used to mean development: the public development SECRET_KEY, a
    # Fernet key derived from it, cookies over plain HTTP, and `check` still exited 0.
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = run_manage("check", env_overrides={**env, "SYNCHRONEX_ENV": value})
    assert result.returncode != 0
    assert "SYNCHRONEX_ENV" in result.stderr
    assert repr(value) in result.stderr


@pytest.mark.parametrize("value", ["development", ""])
def test_development_is_named_or_left_unset(value):
    env = {"SYNCHRONEX_ENV": value, "DATABASE_URL": PROD_ENV["DATABASE_URL"]}
    result = run_manage("check", env_overrides=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # Every API request was a 500 (the cache cannot parse it) and the broker silently became
        # amqp://guest@garbage.
        ("REDIS_URL", "garbage"),
        ("REDIS_URL", "http://cache.internal:6379/0"),
        ("REDIS_URL", "redis:///0"),
        ("DATABASE_URL", "garbage"),
        ("DATABASE_URL", "postgres:///synchronex"),
        # Was accepted with the engine forced to PostgreSQL.
        ("DATABASE_URL", "mysql://u:p@db.internal/synchronex"),
        # Passed the "required" check, then parsed to [] and every request was a 400.
        ("ALLOWED_HOSTS", " , "),
    ],
)
def test_production_refuses_malformed_values(name, value):
    result = run_manage("check", "--deploy", env_overrides={**PROD_ENV, name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    "value",
    [
        "postgres://synchronex:pw@db.internal/synchronex",
        "postgresql://synchronex@%2Fcloudsql%2Fproject%3Aregion%3Adb/synchronex",
        "postgres://synchronex@/synchronex?host=/cloudsql/project:region:db",
    ],
)
def test_production_accepts_database_urls_with_a_host_or_a_socket(value):
    result = run_manage("check", env_overrides={**PROD_ENV, "DATABASE_URL": value})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATABASE_URL", "mysql://u:p@localhost/synchronex"), ("REDIS_URL", "garbage")],
)
def test_development_refuses_urls_of_another_kind(name, value):
    # Outside production a missing host still means the local default, but a URL of another kind
    # cannot work at all.
    env = {"DATABASE_URL": PROD_ENV["DATABASE_URL"], name: value}
    result = run_manage("check", env_overrides=env)
    assert result.returncode != 0
    assert name in result.stderr.splitlines()[-1]


# Runs in `manage.py shell` with production settings: the API docs page and every static URL it
# references, and the admin's stylesheet, through the app (whitenoise).
STATIC_PROBE = """
import re, tempfile
from django.conf import settings
from django.test import Client
settings.STATIC_ROOT = tempfile.mkdtemp()  # a clean checkout: collectstatic never ran here
client = Client(HTTP_HOST="synchronex.ai")
docs = client.get("/api/v1/docs", secure=True)
print("/api/v1/docs", docs.status_code)
urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', docs.content.decode())
for url in urls + ["/static/admin/css/base.css"]:
    print(url, client.get(url, secure=True).status_code)
"""


def test_production_serves_the_docs_assets_and_admin_css_without_collectstatic():
    # Platforms that run `release` in a one-off container throw its files away, so production
    # cannot rely on a collected static/ directory.
    result = run_manage("shell", "-c", STATIC_PROBE, env_overrides=PROD_ENV)
    assert result.returncode == 0, result.stderr
    statuses = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines() if line.startswith("/"))
    assert any("swagger-ui-bundle.js" in url for url in statuses), statuses
    assert "/static/admin/css/base.css" in statuses
    assert set(statuses.values()) == {"200"}, statuses


def test_gunicorn_timeout_is_explicit_and_shorter_than_the_idempotency_lease(settings):
    # A sync worker does not heartbeat while it streams an export, so the timeout bounds every
    # request; a claim must outlive it or a retry would run a still-running import a second time.
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    match = re.search(r"--timeout \$\{WEB_TIMEOUT:-(\d+)\}", web)
    assert match, web
    assert int(match.group(1)) == settings.WEB_TIMEOUT >= 120
    assert settings.IDEMPOTENCY_LEASE_SECONDS > settings.WEB_TIMEOUT


def test_the_idempotency_lease_follows_the_web_timeout():
    env = {"DATABASE_URL": PROD_ENV["DATABASE_URL"], "WEB_TIMEOUT": "300"}
    script = "from django.conf import settings; print(settings.IDEMPOTENCY_LEASE_SECONDS)"
    result = run_manage("shell", "-c", script, env_overrides=env)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) > 300
    refused = run_manage("check", env_overrides={**env, "IDEMPOTENCY_LEASE_SECONDS": "120"})
    assert refused.returncode != 0
    assert "IDEMPOTENCY_LEASE_SECONDS" in refused.stderr


@pytest.mark.django_db
def test_migrations_create_the_extensions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        names = {row[0] for row in cursor.fetchall()}
    assert {"vector", "pg_trgm"} <= names


def test_embedded_database_keeps_its_data_across_restarts(tmp_path):
    script = """
import sys
from pathlib import Path
import psycopg
from synchronex import embedded_db
base = Path(sys.argv[1])
db = embedded_db.ensure_running(base)
with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True) as c:
    if sys.argv[2] == "write":
        c.execute("CREATE TABLE kept (v text)")
        c.execute("INSERT INTO kept VALUES ('still here')")
    else:
        print(c.execute("SELECT v FROM kept").fetchone()[0])
embedded_db.stop(base)
"""
    # The server runs as an unprivileged user when tests run as root: let it into the folder.
    tmp_path.chmod(0o755)
    env = {**os.environ, "SYNCHRONEX_VAR_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)
    write = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), "write"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert write.returncode == 0, write.stderr
    assert not (tmp_path / "var" / "pgdata" / "postmaster.pid").exists()  # really stopped
    read = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), "read"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "still here"


def test_the_credential_throttles_cannot_be_turned_off_by_the_environment():
    """django-ratelimit reads RATELIMIT_ENABLE; SPEC §2 wants the per-address throttles always."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "synchronex.settings", "RATELIMIT_ENABLE": "false"}
    code = "from django.conf import settings; print(settings.RATELIMIT_ENABLE)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # Each crashed with "invalid literal for int()" naming no variable, or (rates, the log
        # level's case) passed `check` and then made every login or registration a 500.
        ("WEB_TIMEOUT", "2m"),
        ("MAX_BODY_BYTES", "1MB"),
        ("DB_CONN_MAX_AGE", "abc"),
        ("TRUSTED_PROXY_HOPS", "-1"),
        ("WEB_TIMEOUT", "0"),
        ("MAX_IMPORT_BODY_BYTES", "0"),
        ("CONSOLIDATION_RECOVER_SECONDS", "0"),  # beat would queue recovery in a tight loop
        ("EMBEDDINGS_SWEEP_SECONDS", "0"),
        # Read as false: a misspelt "true" silently turned the setting off.
        ("DB_SERVER_SIDE_BINDING", "ture"),
        ("CELERY_TASK_ALWAYS_EAGER", "enabled"),
        ("LOG_LEVEL", "verbose"),
        ("LOGIN_RATE", "ten"),
        ("OAUTH_REGISTER_RATE", "0"),
        ("OAUTH_TOKEN_RATE", "30/0m"),
        ("LOGIN_RATE", "1.5/m"),  # django-ratelimit imports a rate with a dot as a function
    ],
)
def test_a_malformed_value_refuses_to_start_naming_its_variable(name, value):
    env = {"DATABASE_URL": PROD_ENV["DATABASE_URL"], name: value}
    result = run_manage("check", env_overrides=env)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured"), result.stderr
    assert name in last and repr(value) in last


def test_values_in_their_usual_spellings_are_accepted():
    env = {
        "DATABASE_URL": PROD_ENV["DATABASE_URL"],
        "LOG_LEVEL": "debug",
        "DB_SERVER_SIDE_BINDING": " Off ",
        "CELERY_TASK_ALWAYS_EAGER": "YES",
        "WEB_TIMEOUT": " 300 ",
        "TRUSTED_PROXY_HOPS": "0",
        "LOGIN_RATE": "100/5m",
        "OAUTH_REGISTER_RATE": "3/h",
    }
    script = (
        "from django.conf import settings as s; "
        "print(s.LOGGING['root']['level'], 'server_side_binding' in s.DATABASES['default']['OPTIONS'], "
        "s.CELERY_TASK_ALWAYS_EAGER, s.WEB_TIMEOUT, s.LOGIN_RATE)"
    )
    result = run_manage("shell", "-c", script, env_overrides=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "DEBUG False True 300 100/5m"


# -- values that started, then failed later or were silently ignored -----------------------------------
DEV_ENV = {"DATABASE_URL": PROD_ENV["DATABASE_URL"]}
REDIS_BROKER = {"CELERY_BROKER_URL": "redis://broker.internal:6379/1"}


def _refusal(result, name: str) -> str:
    """The ImproperlyConfigured line of a start refused for ``name``."""
    assert result.returncode != 0, result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured"), result.stderr
    assert name in last, last
    return last


@pytest.mark.parametrize("value", [",", " , "])
def test_production_refuses_fernet_keys_that_name_no_key(value):
    # Accepted: BYOK secrets were then encrypted with the development key derived from SECRET_KEY,
    # which the real keys set later cannot decrypt (identity reads answered 500).
    _refusal(run_manage("check", env_overrides={**PROD_ENV, "FERNET_KEYS": value}), "FERNET_KEYS")


@pytest.mark.parametrize("base", [PROD_ENV, DEV_ENV], ids=["production", "development"])
def test_a_fernet_key_that_is_no_key_refuses_to_start_naming_its_position_not_its_value(base):
    # The web and worker processes started (only `manage.py check` looked): the first BYOK request was a 500.
    secret = "not-a-key-" + secrets.token_hex(8)
    result = run_manage("check", env_overrides={**base, "FERNET_KEYS": f"{PROD_ENV['FERNET_KEYS']}, {secret}"})
    assert "entry 2" in _refusal(result, "FERNET_KEYS")
    assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "value", ["sx.example", "https://", "https://sx.example,sx.example:443", "https://sx.example/app"]
)
def test_csrf_trusted_origins_must_each_be_a_scheme_and_a_host(value):
    # "sx.example" started, and every sign-in POST was a 403 (Django's own check runs in manage.py only).
    _refusal(run_manage("check", env_overrides={**DEV_ENV, "CSRF_TRUSTED_ORIGINS": value}), "CSRF_TRUSTED_ORIGINS")


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("HEALTH_CHECK_TIMEOUT_SECONDS", {}),  # /healthz was always 503
        ("DB_CONNECT_TIMEOUT", {}),  # libpq waits forever: /healthz hung on a new connection
        ("CELERY_BROKER_SOCKET_TIMEOUT", REDIS_BROKER),  # every publish failed while /healthz said ok
        ("CELERY_VISIBILITY_TIMEOUT", REDIS_BROKER),  # every unacknowledged message delivered again at once
        ("EMBEDDINGS_TIMEOUT_SECONDS", {}),
        ("EMBEDDINGS_TASK_TIME_LIMIT_SECONDS", {}),
        ("CONSOLIDATION_LEASE_SECONDS", {}),  # every running job presumed lost at once
        ("CONSOLIDATION_QUEUED_GRACE_SECONDS", {}),
        ("CONSOLIDATION_TASK_TIME_LIMIT_SECONDS", {}),  # the heartbeat stopped at once
        ("OAUTH_CODE_SECONDS", {}),  # every code, token or refresh token born expired
        ("OAUTH_ACCESS_TOKEN_SECONDS", {}),
        ("OAUTH_REFRESH_TOKEN_SECONDS", {}),
        ("OAUTH_REGISTRATION_TOKEN_SECONDS", {}),
        ("OAUTH_UNUSED_CLIENT_DAYS", {}),  # a client would go before anyone could authorize it
    ],
)
def test_a_timeout_or_lifetime_of_zero_refuses_to_start(name, extra):
    result = run_manage("check", env_overrides={**DEV_ENV, **extra, name: "0"})
    assert "at least 1" in _refusal(result, name)


@pytest.mark.parametrize(
    ("base", "name", "value"),
    [
        (DEV_ENV, "CELERY_BROKER_URL", "foo://bar"),  # KeyError 'No such transport' at the first publish
        (DEV_ENV, "CELERY_BROKER_URL", "sqla+postgresql://u@db.internal/x"),  # SQLAlchemy's psycopg2: not installed
        (PROD_ENV, "CELERY_BROKER_URL", "redis://"),  # passed check --deploy
        (PROD_ENV, "CELERY_BROKER_URL", "redis+socket:///run/redis.sock"),
        ({**DEV_ENV, "REDIS_URL": "unix:///run/redis.sock"}, "CELERY_BROKER_URL", None),  # unix:// is no transport
        (DEV_ENV, "EMBEDDINGS_BASE_URL", "notaurl"),  # search fell back to keywords without a word
        (DEV_ENV, "EMBEDDINGS_BASE_URL", "ftp://models.internal"),
        (PROD_ENV, "PUBLIC_BASE_URL", "https://sx.example/base"),  # the issuer's RFC 8414 discovery 404s
        (PROD_ENV, "PUBLIC_BASE_URL", "https://sx.example?tenant=1"),
        (DEV_ENV, "PUBLIC_BASE_URL", "http://localhost:3010/base"),
        (DEV_ENV, "PUBLIC_BASE_URL", "localhost:3010"),
        (DEV_ENV, "PUBLIC_BASE_URL", "http://localhost:port"),
    ],
)
def test_a_url_that_cannot_work_refuses_to_start(base, name, value):
    env = {**base, "EMBEDDINGS_PROVIDER": "openai"}
    if value is not None:
        env[name] = value
    _refusal(run_manage("check", "--deploy", env_overrides=env), name)


def test_urls_origins_and_keys_in_their_usual_forms_are_accepted():
    from cryptography.fernet import Fernet

    keys = f"{Fernet.generate_key().decode()} , {Fernet.generate_key().decode()}"
    script = (
        "from django.conf import settings as s; "
        "print(s.PUBLIC_BASE_URL, s.CELERY_BROKER_URL, s.EMBEDDINGS_BASE_URL, len(s.FERNET_KEYS), "
        "','.join(s.CSRF_TRUSTED_ORIGINS))"
    )
    production = {
        **PROD_ENV,
        "FERNET_KEYS": keys,
        "PUBLIC_BASE_URL": "https://sx.example/",
        "CSRF_TRUSTED_ORIGINS": "https://sx.example, https://*.sx.example:8443",
        "CELERY_BROKER_URL": "sqla+postgresql+psycopg://u@/synchronex?host=/cloudsql/x",
        "EMBEDDINGS_PROVIDER": "openai",
        "EMBEDDINGS_BASE_URL": "http://models.internal:8080/proxy",
    }
    result = run_manage("shell", "-c", script, env_overrides=production)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "https://sx.example/ sqla+postgresql+psycopg://u@/synchronex?host=/cloudsql/x "
        "http://models.internal:8080/proxy 2 https://sx.example,https://*.sx.example:8443"
    )
    development = {
        **DEV_ENV,
        "PUBLIC_BASE_URL": "http://localhost:3011",
        "REDIS_URL": "unix:///run/redis.sock",
        "CELERY_BROKER_URL": "redis+socket:///run/redis.sock",
    }
    result = run_manage("shell", "-c", script, env_overrides=development)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last == "http://localhost:3011 redis+socket:///run/redis.sock https://api.openai.com 1"


@pytest.mark.parametrize(
    ("log_level", "expected"),
    [
        ("debug", "20 20 20 40"),
        ("info", "20 20 20 40"),
        ("warning", "30 30 30 40"),
        ("error", "40 40 40 40"),
        ("critical", "50 50 50 50"),
    ],
)
def test_log_level_quiets_django_and_the_oauth_libraries_but_never_opens_their_debug(log_level, expected):
    """Django's own default sets its logger to INFO, and the OAuth libraries' DEBUG lines carry
    authorization codes: LOG_LEVEL above INFO quiets all three, below it leaves them at INFO.
    ``django.request`` (a line per 4xx/5xx) stays at ERROR, and CRITICAL quiets it too."""
    script = (
        "import logging; print(*(logging.getLogger(n).getEffectiveLevel() "
        "for n in ('django', 'oauthlib', 'oauth2_provider', 'django.request')))"
    )
    result = run_manage("shell", "-c", script, env_overrides={"LOG_LEVEL": log_level})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
