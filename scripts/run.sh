#!/usr/bin/env bash
# Development stack: a Celery worker (with the beat scheduler embedded, for the periodic recovery
# of lost consolidation jobs) in the background, the web server on :3010 in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-3010}"

mkdir -p var
.venv/bin/celery -A synchronex worker --loglevel=INFO --concurrency=2 --beat --schedule var/celerybeat-schedule &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true; wait $WORKER 2>/dev/null || true' EXIT INT TERM

KEY=$(.venv/bin/python manage.py demo_key)
cat <<MSG

  Synchronex is starting on http://localhost:${PORT}
  Demo account: demo@synchronex.local (team plan); a development API key:

    curl http://localhost:${PORT}/api/v1/memory/identity -H "Authorization: Bearer ${KEY}"

  API docs: http://localhost:${PORT}/api/v1/docs    Stop with Ctrl-C (make stop stops PostgreSQL).

MSG
.venv/bin/python manage.py runserver "0.0.0.0:${PORT}"
