# nurture: `make run` to try it, `make test` to check it. See README.md.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
PORT ?= 8000
PY := $(VENV)/bin/python
# Rewritten after a successful `pip install`: it reruns only when a requirements file changes.
STAMP := $(VENV)/.installed

# The real services of `make test` (first stage) and `make bench`; set them to use others.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# Per-test limit, so that a hung test fails the run instead of eating CI's 90 minutes.
PYTEST_TIMEOUT ?= 600
# Extra pytest arguments, e.g. PYTEST_ARGS="-k planning -x".
PYTEST_ARGS ?=

header = @printf '\n==== %s ====\n' "$(1)"

# `make workers`: how many worker processes of each kind (Procfile.workers).
PLANNERS ?= 2
RENDERERS ?= 1

.PHONY: help install system-deps services run workers test lint format bench bench-services bench-planner \
	bench-workers bench-batches bench-admin bench-health bench-api bench-webhooks bench-reports \
	bench-seasonal clean

help:
	@echo "make run      install, migrate, seed demo data and start web, worker and beat (embedded default"
	@echo "              unless DATABASE_URL / REDIS_URL are set); log in at http://localhost:$(PORT)/admin/"
	@echo "make workers  web, beat, PLANNERS=2 planning workers and RENDERERS=1 rendering worker against the local"
	@echo "              PostgreSQL and Redis (or DATABASE_URL / REDIS_URL): a scaled-out deployment on one machine"
	@echo "make test     ruff, mypy, import contracts, then pytest against PostgreSQL + Redis and on the embedded default"
	@echo "make install  system packages (only missing ones), $(VENV), Python dependencies"
	@echo "make lint     ruff check, ruff format --check, mypy, import contracts (.importlinter)"
	@echo "make format   ruff format and ruff check --fix"
	@echo "make bench    every benchmark against the local PostgreSQL and Redis (about an hour), results in docs/;"
	@echo "              make bench-planner, bench-workers, bench-batches, bench-admin or bench-health runs one"
	@echo "make clean    remove var/, staticfiles/ and the install stamp"

install: system-deps $(STAMP)

system-deps:
	@scripts/install-system-deps

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# Starts PostgreSQL and Redis when they are down (installing them if need be); instant when up.
services:
	@scripts/ensure-services

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@mkdir -p var
	$(PY) manage.py seed_demo | tee var/seed_demo.log
	@# seed_demo ends with where to log in; say it again once the start-up output has scrolled by.
	@banner() { \
		printf '\n==== Log in at http://localhost:$(PORT)/admin/ as:\n'; \
		creds="$$(sed -n '/Log in at/,$$p' var/seed_demo.log | tail -n +2)"; \
		if [[ -n "$$creds" ]]; then echo "$$creds"; else grep -i password var/seed_demo.log || true; fi; \
		printf '==== Ctrl-C stops web, worker and beat.\n\n'; \
	}; \
	(sleep 12; banner) & \
	export PATH="$(abspath $(VENV))/bin:$$PATH" VIRTUAL_ENV="$(abspath $(VENV))"; \
	exec honcho start --port $(PORT) web worker beat

# A scaled-out deployment on one machine, against the real services (started if need be, like
# `make bench`): web, beat, and separate worker processes for planning and for rendering.
workers: install
	@if [[ -z "$${DATABASE_URL:-}" || -z "$${REDIS_URL:-}" ]]; then scripts/ensure-services; fi
	@export DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}"; \
	export PATH="$(abspath $(VENV))/bin:$$PATH" VIRTUAL_ENV="$(abspath $(VENV))"; \
	echo "DATABASE_URL=$$DATABASE_URL REDIS_URL=$$REDIS_URL"; \
	$(PY) manage.py migrate --noinput; \
	$(PY) manage.py collectstatic --noinput --verbosity 0; \
	$(PY) manage.py seed_demo; \
	printf '\n==== web on http://localhost:$(PORT)/admin/, health at /health/, jobs at /admin/nurture/jobrun/jobs/\n'; \
	printf '==== %s planning worker(s), %s rendering worker(s), one beat. Ctrl-C stops everything.\n\n' $(PLANNERS) $(RENDERERS); \
	exec honcho -f Procfile.workers start --port $(PORT) -c planner=$(PLANNERS),renderer=$(RENDERERS)

lint: install
	$(call header,ruff check)
	$(VENV)/bin/ruff check .
	$(call header,ruff format --check)
	$(VENV)/bin/ruff format --check .
	$(call header,mypy)
	$(VENV)/bin/mypy .
	$(call header,import contracts)
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every stage runs even when an earlier one failed, so that one run shows every problem; the
# target fails if any stage did. Pytest's exit code 5 (no tests collected) is a failure too.
test: install
	@failed=(); \
	stage() { local name="$$1"; shift; printf '\n==== %s ====\n' "$$name"; \
		local rc=0; "$$@" || rc=$$?; \
		if [[ $$rc -eq 5 && "$$name" == pytest* ]]; then echo "$$name: no tests were collected"; fi; \
		if [[ $$rc -ne 0 ]]; then failed+=("$$name (exit $$rc)"); fi; }; \
	stage "ruff check" $(VENV)/bin/ruff check .; \
	stage "ruff format --check" $(VENV)/bin/ruff format --check .; \
	stage "mypy" $(VENV)/bin/mypy .; \
	stage "import contracts" $(VENV)/bin/lint-imports --no-cache; \
	if [[ -z "$${DATABASE_URL:-}" || -z "$${REDIS_URL:-}" ]]; then stage "services" scripts/ensure-services; fi; \
	stage "pytest: PostgreSQL + Redis" env \
		DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
		$(PY) -m pytest --timeout=$(PYTEST_TIMEOUT) $(PYTEST_ARGS); \
	mkdir -p var; embedded_dir="$$(mktemp -d "$$PWD/var/test-embedded.XXXXXX")"; \
	stage "pytest: embedded default (SQLite + filesystem broker in $${embedded_dir#$$PWD/})" env \
		-u DATABASE_URL -u REDIS_URL -u MEDIA_ROOT VAR_DIR="$$embedded_dir" \
		$(PY) -m pytest --timeout=$(PYTEST_TIMEOUT) $(PYTEST_ARGS); \
	if [[ " $${failed[*]} " == *"embedded default"* ]]; then echo "kept $$embedded_dir for inspection"; \
	else rm -rf "$$embedded_dir"; fi; \
	if [[ $${#failed[@]} -gt 0 ]]; then \
		printf '\n==== make test FAILED: %s\n' "$$(IFS=','; echo "$${failed[*]}" | sed 's/,/, /g')"; exit 1; \
	fi

# `make bench` runs the four benchmarks one after the other (about an hour) and writes their
# results into docs/; `make bench-planner` (and -workers, -batches, -admin) runs one.
bench: bench-planner bench-workers bench-batches bench-admin

bench-services: install
	@if [[ -z "$${DATABASE_URL:-}" || -z "$${REDIS_URL:-}" ]]; then scripts/ensure-services; fi

bench-planner: bench-services
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
		$(PY) bench/run.py --output docs/benchmarks.md $(BENCH_ARGS)

bench-workers: bench-services
	$(PY) bench/workers_benchmark.py --output docs/benchmarks-workers.md $(BENCH_ARGS)

bench-batches: bench-services
	$(PY) bench/batch_benchmark.py --output docs/benchmarks-batches.md $(BENCH_ARGS)

bench-admin: bench-services
	$(PY) bench/admin_benchmark.py --output docs/benchmarks-admin.md --section results $(BENCH_ARGS)

# The nightly health score on 1,000,000 customers (not part of `make bench`: BENCH_ARGS="--customers 20000" for a small run).
bench-health: bench-services
	$(PY) bench/health_benchmark.py --output docs/benchmarks-health.md $(BENCH_ARGS)

# The benchmarks of the API, webhooks, reports and seasonal batches (not part of `make bench` yet; each
# takes a scale argument through BENCH_ARGS, e.g. BENCH_ARGS="--customers 20000" for the reports).
bench-api: bench-services
	$(PY) bench/api_benchmark.py --output docs/api.md $(BENCH_ARGS)

bench-webhooks: bench-services
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" $(PY) bench/webhooks_benchmark.py $(BENCH_ARGS)

bench-reports: bench-services
	$(PY) bench/reports_benchmark.py $(BENCH_ARGS)

bench-seasonal: bench-services
	$(PY) bench/seasonal_benchmark.py --output docs/benchmarks-batches.md $(BENCH_ARGS)

clean:
	rm -rf var staticfiles $(STAMP)
