#!/usr/bin/env bash
# Development stack: a Celery worker (with the beat scheduler embedded, for the periodic recovery
# of lost consolidation jobs) and the web server on :3010 (PORT), until Ctrl-C or SIGTERM, which
# stop both. PostgreSQL is left running for the next start (make stop stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-3010}"
# Checked before anything reads it: the bind below took any error for a taken port, and 0 (any
# free port) would have named port 0 in the public origin.
if ! [[ "$PORT" =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT > 65535)); then
    echo "PORT must be a port number from 1 to 65535 (got '${PORT}')." >&2
    exit 1
fi
VAR="${SYNCHRONEX_VAR_DIR:-var}"  # as synchronex/embedded_db.py reads it
# The public origin (OAuth issuer and resource identifiers, the MCP challenge, OpenAPI servers)
# follows the port unless set; exported, so the worker reads the same settings as the web server.
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://localhost:${PORT}}"

# A taken port (another make run, a foreign server) is refused before anything starts: runserver
# alone would find out only after a second worker and beat had started. `--check-port` does only
# this, so that make run checks before its migrate starts the embedded PostgreSQL.
if ! .venv/bin/python - "$PORT" <<'PY'; then
import socket
import sys

with socket.socket() as sock:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver binds
    try:
        sock.bind(("0.0.0.0", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
    echo "Port ${PORT} is already in use (another make run?): stop that, or choose another port (PORT=3011 make run)." >&2
    exit 1
fi
if [ "${1:-}" = "--check-port" ]; then
    exit 0
fi

WORKER="" SERVER=""
stop() {
    # Another Ctrl-C or SIGTERM while the worker finishes its running tasks stops it at once
    # (celery's cold shutdown: its tasks go back to the queue, a consolidation job to lease recovery).
    trap 'kill -QUIT $WORKER 2>/dev/null || true' INT TERM HUP
    kill $SERVER $WORKER 2>/dev/null || true
    until wait; do :; done  # the worker finishes its running tasks first (warm shutdown)
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$VAR"
# The worker runs in a process group of its own (set -m), so that a signal sent to make run's group
# (Ctrl-C, a supervisor or an IDE stopping it) reaches this script, and the worker only through
# stop(): it ended the pool processes at once, killing their tasks, and the worker, waiting at exit
# on a queue lock a killed one held, then hung after "Warm shutdown" until SIGKILL.
set -m
# No --loglevel: the worker logs through settings.LOGGING at LOG_LEVEL, as the web server does.
.venv/bin/celery -A synchronex worker --concurrency=2 --beat --schedule "$VAR/celerybeat-schedule" </dev/null &
WORKER=$!
set +m

KEY=$(.venv/bin/python manage.py demo_key)
cat <<MSG

  Synchronex is starting on http://localhost:${PORT}
  Demo account: demo@synchronex.local (team plan); a development API key:

    curl http://localhost:${PORT}/api/v1/memory/identity -H "Authorization: Bearer ${KEY}"

  API docs: http://localhost:${PORT}/api/v1/docs    Stop with Ctrl-C (make stop stops PostgreSQL).

MSG
# In the background, waited on: bash runs a trap only once its foreground command has ended, so a
# SIGTERM (kill, a supervisor, an IDE's stop button) would wait for a runserver that never ends.
.venv/bin/python manage.py runserver "0.0.0.0:${PORT}" &
SERVER=$!
wait "$SERVER"
