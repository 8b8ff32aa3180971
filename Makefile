# skubridge developer entry points. Every target bootstraps first
# (scripts/bootstrap.sh: .venv + deps when pyproject.toml changed + local
# Postgres/Redis via scripts/ensure-services.sh), which is a fast no-op when
# everything is already in place.
#
# Point at other services with e.g.
#   make test DATABASE_URL=... REDIS_URL=... SKUBRIDGE_SKIP_SERVICES=1
# Extra pytest arguments: make test PYTEST_ARGS='-k webhook -x'

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin

DATABASE_URL ?= postgresql+asyncpg://skubridge:skubridge@127.0.0.1:5432/skubridge
REDIS_URL ?= redis://127.0.0.1:6379/0
# A developer's make api / worker / migrate run with the development secrets; the service
# itself (and the Docker image) defaults to production, which refuses them.
ENVIRONMENT ?= development
PYTEST_ARGS ?=
export DATABASE_URL REDIS_URL ENVIRONMENT

.PHONY: help venv lock lint demo test bench bench-catalogue bench-plan bench-webhook migrate api worker clean

help:
	@echo "make venv           create/refresh .venv and start local Postgres/Redis"
	@echo "make lock           refresh requirements*.lock from pyproject.toml (UPGRADE=1: newest releases)"
	@echo "make demo           run the end-to-end demo (python -m simulators demo)"
	@echo "make lint           ruff (pycodestyle, pyflakes, imports, bugbear, pyupgrade) and mypy --strict"
	@echo "make test           run the test suite (PYTEST_ARGS='...' to pass options)"
	@echo "make bench          sync benchmarks: 10k simple products, the catalogue one, a 100k-item plan, verify runs"
	@echo "make bench-catalogue sync benchmark with item groups and images only"
	@echo "make bench-plan     the 100,000-item plan alone: plan time and the worker's peak RSS"
	@echo "make bench-webhook  webhook benchmark (bench/bench_webhook.py)"
	@echo "make migrate        apply database migrations"
	@echo "make api            run the HTTP API"
	@echo "make worker         run the arq worker"
	@echo "make clean          remove .venv and caches"

venv:
	@bash scripts/bootstrap.sh

lock:
	bash scripts/lock.sh $(if $(UPGRADE),--upgrade,)

lint: venv
	$(BIN)/ruff check app workers tests simulators bench
	$(BIN)/mypy

demo: venv
	$(BIN)/python -m simulators demo

# The lint gates run first: a finding fails the suite before any test runs.
test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: venv
	$(BIN)/python bench/bench_sync.py
	$(BIN)/python bench/bench_sync.py --scenario catalogue
	$(BIN)/python bench/bench_sync.py --scenario plan100k
	$(BIN)/python bench/bench_sync.py --scenario verify

bench-catalogue: venv
	$(BIN)/python bench/bench_sync.py --scenario catalogue

bench-plan: venv
	$(BIN)/python bench/bench_sync.py --scenario plan100k
	$(BIN)/python bench/bench_sync.py --scenario verify

bench-webhook: venv
	$(BIN)/python bench/bench_webhook.py

migrate: venv
	$(BIN)/skubridge migrate

api: venv
	$(BIN)/skubridge api

worker: venv
	$(BIN)/skubridge worker

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
