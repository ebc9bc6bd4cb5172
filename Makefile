# events-service. `make help` lists the targets. Every step is a no-op when already done.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TMP := .tmp

EVENTS_HOST ?= 127.0.0.1
EVENTS_PORT ?= 8008
EVENTS_WORKERS ?= 4
EVENTS_PG_PORT ?= 55432
export EVENTS_PG_PORT
LOCAL_DB := postgresql+psycopg://postgres@127.0.0.1:$(EVENTS_PG_PORT)
TEST_DB_NAME ?= events_test
T ?=

.PHONY: help install db migrate run stop test bench-ingest lint clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): setup.cfg setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,dev]'
	@touch $@

install: $(STAMP) ## create the virtualenv and install the package with its test extras

db: ## install TimescaleDB if missing and start the local cluster (skipped when EVENTS_DATABASE_URL is set)
ifeq ($(origin EVENTS_DATABASE_URL), environment)
	@echo "using EVENTS_DATABASE_URL; no local cluster started"
else
	@bash scripts/install-timescaledb.sh
	@bash scripts/pg.sh start
	@bash scripts/pg.sh createdb events
endif

migrate: install db ## alembic upgrade head on the service database
	EVENTS_DATABASE_URL=$${EVENTS_DATABASE_URL:-$(LOCAL_DB)/events} \
		$(BIN)/alembic -c migrations/alembic.ini upgrade head

run: migrate ## start the service with gunicorn on $(EVENTS_HOST):$(EVENTS_PORT) (foreground)
	@mkdir -p $(TMP)
	@EVENTS_DATABASE_URL=$${EVENTS_DATABASE_URL:-$(LOCAL_DB)/events} \
		$(BIN)/events-service credentials default --api-host http://$(EVENTS_HOST):$(EVENTS_PORT)
	EVENTS_DATABASE_URL=$${EVENTS_DATABASE_URL:-$(LOCAL_DB)/events} \
		exec $(BIN)/gunicorn --config gunicorn.conf.py --bind $(EVENTS_HOST):$(EVENTS_PORT) --workers $(EVENTS_WORKERS) \
		--pid $(TMP)/gunicorn.pid --access-logfile - wsgi:app

stop: ## stop what `make run` started (gunicorn and the local cluster)
	@if [ -f $(TMP)/gunicorn.pid ]; then kill $$(cat $(TMP)/gunicorn.pid) 2>/dev/null || true; rm -f $(TMP)/gunicorn.pid; fi
	@bash scripts/pg.sh stop

test: install ## run the test suite against a fresh test database (T= selects tests)
	@bash scripts/install-chromium.sh  # the viewer's browser tests (tests/viewer); a no-op when present
	@bash scripts/install-pgbouncer.sh
ifneq ($(origin EVENTS_TEST_DATABASE_URL), environment)
	@bash scripts/install-timescaledb.sh
	@bash scripts/pg.sh start
endif
	EVENTS_TEST_DATABASE_URL=$${EVENTS_TEST_DATABASE_URL:-$(LOCAL_DB)/$(TEST_DB_NAME)} \
		$(BIN)/pytest $(T)

bench-ingest: install db ## bench/ingest.py: HTTP ingestion vs COPY (1M events)
	$(BIN)/python bench/ingest.py

lint: install ## flake8
	$(BIN)/flake8 events_service tests migrations bench wsgi.py

clean: ## remove the virtualenv (the cluster data in .tmp/ stays; `make stop` first)
	rm -rf $(VENV)
