# Rapport: the two commands are `make run` and `make test`; `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
# uv from PATH if present, else the copy `make setup` installs with pip (python -m uv).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := 3.11
RUN := $(UV) run --frozen --no-sync
MVN := mvn -q -B -s infra/jvm/settings.xml -f infra/jvm/pom.xml

VENV_STAMP := .venv/.rapport-synced
JARS_STAMP := var/jars/.resolved
POMS := infra/jvm/pom.xml infra/jvm/kafka-broker/pom.xml infra/jvm/spark-runtime/pom.xml infra/jvm/object-store/pom.xml infra/jvm/settings.xml

.PHONY: help setup browser run up down status sql test test-unit chaos bench lint format clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV_STAMP) $(JARS_STAMP) browser ## Install uv, the Python environment (uv.lock), the JVM jars (Maven Central) and Chromium

$(VENV_STAMP): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || { echo "installing uv $(UV_VERSION) with pip"; $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"; }
	$(UV) sync --frozen
	@touch $@

$(JARS_STAMP): $(POMS)
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch the JVM jars: apt-get install maven"; exit 1; }
	@command -v java >/dev/null || { echo "A JDK 17+ is needed: apt-get install openjdk-17-jdk-headless"; exit 1; }
	rm -rf var/jars/kafka-broker var/jars/spark-runtime var/jars/object-store
	$(MVN) dependency:copy-dependencies
	@touch $@

# Debian's chromium drives the Dagster UI test headless (playwright cannot download its own
# browser here). Checked on every setup, installed only when missing; without root it says how.
browser: ## Install Chromium (apt-get) if missing
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium with apt-get (for the Dagster UI test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing; the Dagster UI test needs it. Run: sudo apt-get update && sudo apt-get install -y chromium"; \
	  fi; }

run: setup ## Start Kafka, the schema registry, the stream, Dagster (:3000) and the dashboard (:8501); Ctrl-C stops all
	$(RUN) rapport run

up: setup ## Start the stack in the background; PROFILE=cluster: on a local Spark cluster and 3 brokers
	@case "$(PROFILE)" in ""|cluster) ;; *) echo "unknown PROFILE=$(PROFILE); the one profile is: cluster"; exit 2;; esac
	$(RUN) rapport up $(if $(filter cluster,$(PROFILE)),--cluster)

down: ## Stop the background stack
	@if [ -x .venv/bin/rapport ]; then $(RUN) rapport down; else echo "nothing to stop (not set up)"; fi

sql: ## Open beeline (JDBC) on the running SQL server (127.0.0.1:10000)
	$(RUN) rapport sql-server beeline

status: ## Show what runs, with pids and addresses
	@$(RUN) rapport status

test: setup ## Run the whole test suite (starts and stops its own broker and Spark); PYTEST_ARGS adds options
	$(RUN) pytest $(PYTEST_ARGS)

test-unit: setup ## Only the fast tests (no JVM)
	$(RUN) pytest -m unit

chaos: setup ## The fault-injection suite in full (docs/reliability.md); prints the per-scenario report
	RAPPORT_CHAOS=full $(RUN) pytest tests/chaos -m chaos --timeout=5400 $(PYTEST_ARGS)

bench: setup ## Benchmarks into docs/benchmarks.md: the limit, the plain peer, Rapport (burst, idle, 5,000/s for 10 min, RSS); then simulator, Delta ops, rapport sql
	$(RUN) python -m bench.report --new-run
	$(RUN) python -m bench.baseline
	$(RUN) python -m bench.rapport
	$(RUN) python -m bench.simulator
	$(RUN) python -m bench.delta_ops
	$(RUN) python -m bench.sql

lint: setup ## ruff (lint and format check), mypy and the import contracts (lint-imports)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

format: setup ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

clean: down ## Remove local state (broker data, lakehouse, jars) and the virtualenv
	rm -rf var .venv
