"""The embedded PostgreSQL (synchronex.embedded_db) after an unclean end: a leftover postmaster.pid
whose PID now belongs to another process (usual after a reboot or a container restart)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.servers import ROOT

# Each step in its own process, as make run and make stop do (the library keeps one server handle
# per process).
SCRIPT = """
import sys
from pathlib import Path
import psycopg
from synchronex import embedded_db
base, step = Path(sys.argv[1]), sys.argv[2]
if step == "stop":
    embedded_db.stop(base)
    sys.exit()
db = embedded_db.ensure_running(base)
with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True) as c:
    if step == "init":
        c.execute("CREATE TABLE kept (v text)")
        c.execute("INSERT INTO kept VALUES ('still here')")
        pgdata = embedded_db.data_dir(base)
        print((pgdata / "postmaster.pid").read_text(), end="")
    else:
        print(c.execute("SELECT v FROM kept").fetchone()[0])
"""


def _run(tmp_path, step: str) -> str:
    env = {**os.environ, "SYNCHRONEX_VAR_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), step],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def bystander():
    """A live process unrelated to PostgreSQL, which the server's own user could signal (as root,
    the server runs as ``embedded_postgres``: so must this process, or pg_ctl could not reach it)."""
    user = "embedded_postgres" if os.geteuid() == 0 else None
    proc = subprocess.Popen(["sleep", "120"], user=user)
    yield proc
    proc.kill()
    proc.wait(5)


def test_a_leftover_postmaster_pid_naming_another_process_is_stale(tmp_path, bystander):
    tmp_path.chmod(0o755)  # the server runs as an unprivileged user when tests run as root
    pgdata = tmp_path / "var" / "pgdata"
    lines = _run(tmp_path, "init").splitlines()
    _run(tmp_path, "stop")
    assert not (pgdata / "postmaster.pid").exists()

    # What a machine that went down with the server running leaves (its PID now someone else's).
    stale = "\n".join([str(bystander.pid), *lines[1:]]) + "\n"
    (pgdata / "postmaster.pid").write_text(stale)
    socket_lock = pgdata / ".s.PGSQL.5432.lock"
    socket_lock.write_text("\n".join([str(bystander.pid), *lines[1:5]]) + "\n")

    _run(tmp_path, "stop")  # make stop: nothing to stop, and nobody signalled
    assert bystander.poll() is None

    (pgdata / "postmaster.pid").write_text(stale)
    socket_lock.write_text("\n".join([str(bystander.pid), *lines[1:5]]) + "\n")
    assert _run(tmp_path, "read").strip() == "still here"  # make run: the server starts
    assert bystander.poll() is None
    assert int((pgdata / "postmaster.pid").read_text().split()[0]) != bystander.pid

    _run(tmp_path, "stop")
    assert not (pgdata / "postmaster.pid").exists()
    assert bystander.poll() is None


@pytest.mark.parametrize(("value", "expected"), [(None, "var"), ("", "var"), ("elsewhere/v", "elsewhere/v")])
def test_the_var_dir_is_read_as_make_run_reads_it(tmp_path, monkeypatch, value, expected):
    # Empty, it was the process's current directory (the database in ./pgdata, a second one beside
    # var/pgdata, which make run's own beat schedule still used); relative, it followed whichever
    # directory a manage.py command ran from, where make run's is the checkout's.
    from synchronex import embedded_db

    monkeypatch.chdir(tmp_path)
    if value is None:
        monkeypatch.delenv("SYNCHRONEX_VAR_DIR", raising=False)
    else:
        monkeypatch.setenv("SYNCHRONEX_VAR_DIR", value)
    base = tmp_path / "checkout"
    assert embedded_db.var_dir(base) == base / expected
    assert embedded_db.data_dir(base) == base / expected / "pgdata"
