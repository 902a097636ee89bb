# Synchronex — everything a newcomer needs is `make run` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install migrate run test stop lint check bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

## Start the embedded PostgreSQL, the web server on :3010 and a Celery worker. The port is checked
## first: migrate starts the embedded PostgreSQL, which a taken port must not.
run: install
	bash scripts/run.sh --check-port
	$(PY) manage.py migrate --noinput
	bash scripts/run.sh

## The whole test suite.
test: install
	$(VENV)/bin/pytest

## Stop the embedded PostgreSQL (make run leaves it running for the next start).
stop:
	$(PY) -c "from pathlib import Path; from synchronex.embedded_db import stop; stop(Path('.'))"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
