"""Environment-only settings: the embedded default, and production mode's refusals."""

import os
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


def test_check_deploy_is_clean_with_production_variables():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


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
