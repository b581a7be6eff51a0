# Two commands on a fresh machine (only Python >= 3.11 and make needed):
#   make run   - install into .venv and serve http://127.0.0.1:8000 (embedded DB, fake AIOZ, demo tokens);
#                `make run PORT=9000 HOST=0.0.0.0` serves elsewhere
#   make test  - install into .venv and run lint + the whole test suite
# Installs come from the hash-pinned lock files in requirements/ (`make lock` regenerates them).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
# Worker processes for the test suite (pytest-xdist); `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
# How xdist hands tests to workers: `worksteal` lets an idle worker take queued tests from a busy one,
# so the long money-harness tests do not end the run on one worker while the other waits.
PYTEST_DIST ?= worksteal
# Address `make run` serves on.
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-money-full test-deep test-mongo lint lint-openapi format bench bench-plans fake-aioz mutate lock lock-check clean

# The environment is exactly a lock file: pip bootstraps the pinned uv (hash-checked), uv syncs the lock
# (removing anything else, e.g. the bench extra) and installs the project itself editable without deps.
# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (CI), every process would
# otherwise compile FastAPI, pydantic, Hypothesis… from source on import (~3 s each).
define sync
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/uv.txt
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python --require-hashes $(1)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	rm -f $(STAMP) $(BENCH_STAMP)
	touch $(2)
endef

$(STAMP): pyproject.toml requirements/dev.txt requirements/uv.txt
	$(call sync,requirements/dev.txt,$(STAMP))

$(BENCH_STAMP): pyproject.toml requirements/bench.txt requirements/uv.txt
	$(call sync,requirements/bench.txt,$(BENCH_STAMP))

install: $(STAMP)

run: $(STAMP)
	$(BIN)/allmine-live --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

# Compiled test modules (pytest's assertion rewriting) and app modules are kept under var/pycache, also where
# PYTHONDONTWRITEBYTECODE is set: each test process otherwise rewrites and compiles ~120 modules (~3 s each).
test: lint
	env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(CURDIR)/var/pycache \
		$(BIN)/pytest -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST)

# The money harness at every crash point and every point of every competitor (`make test` runs a spread
# sample of 10 of each per scenario, MONEY_POINTS; docs/money.md section 5). `MONEY_SAMPLE=all` adds the
# whole generated products (crash x competitor, crashed competitors, crashed recovery).
test-money-full: $(STAMP)
	MONEY_POINTS=all $(BIN)/pytest -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST) tests/money

# The whole suite with the deeper profiles `make test` trims for time: every money-harness point, 200
# examples per operation in the contract fuzz, 500 random histories for the embedded engine's indexes.
test-deep: $(STAMP)
	MONEY_POINTS=all FUZZ_MAX_EXAMPLES=200 INDEX_MAX_EXAMPLES=500 \
		$(BIN)/pytest -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST)

# The real-server run of CI's `mongodb` job, locally: MongoDB 7.0 as a one-node replica set and Redis 7.4 in
# Docker (docker-compose.test.yml), then .ci/mongo (migrate-indexes twice, the whole suite with the money
# harness, bench/plans.py); the containers are removed afterwards, whatever the outcome. Needs Docker with
# the compose plugin.
TEST_COMPOSE := docker compose -f docker-compose.test.yml
MONGODB_TEST_URL_LOCAL := mongodb://localhost:27017/?replicaSet=rs0
test-mongo:
	$(TEST_COMPOSE) up -d --wait
	MONGODB_TEST_URL='$(MONGODB_TEST_URL_LOCAL)' REDIS_TEST_URL=redis://localhost:6379/0 \
		PYTEST_WORKERS=$(PYTEST_WORKERS) .ci/mongo; status=$$?; $(TEST_COMPOSE) down -v; exit $$status

# Redocly's `recommended` ruleset on the served OpenAPI document (target: 0 errors, 0 warnings).
# Needs Node.js (npx); without it the target says so and succeeds, so `make` works on Python-only machines.
REDOCLY ?= @redocly/cli@2.77.0
lint-openapi: $(STAMP)
	@mkdir -p var
	APP_ENV=test SEED_DEMO=false $(BIN)/python -c 'import json; from app.main import create_app; json.dump(create_app().openapi(), open("var/openapi.json", "w"))'
	@if command -v npx >/dev/null 2>&1; then \
		npx --yes $(REDOCLY) lint --extends recommended --max-problems 200 var/openapi.json; \
	else \
		echo "lint-openapi: Node.js/npx not found, Redocly lint skipped (install Node.js >= 20 to run it)"; \
	fi

format: $(STAMP)
	$(BIN)/ruff check --fix app tests bench
	$(BIN)/ruff format app tests bench

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

# Mutation testing of the money modules against tests/money alone (mutmut; pyproject's [tool.mutmut];
# functions that move no money are left out by `# pragma: no mutate` comments, listed in docs/money.md).
# Not in CI (docs/money.md has the measured time and score). Each scenario stops at its first broken
# schedule (MONEY_FAIL_FAST), runs no generated combination (MONEY_SAMPLE=0) and samples MUTATE_POINTS
# crash points and points per competitor besides the plain run (MONEY_POINTS). MONGO_RULES=0: the mongod
# rule checks compare the engine with mongod on the same command, so they find engine bugs, not a
# mutant (a mutant's command is the same on both sides); off, every schedule costs about half.
# MUTATE_CHILDREN mutants run at once (both cores by default; mutmut runs each mutant's tests fastest
# first and stops at the first failure). `make mutate MUTANTS="name …"` runs only those mutants (names
# as `mutmut results` shows them, globs allowed). Results: `.venv/bin/mutmut results`, one mutant:
# `.venv/bin/mutmut show NAME`, the score per module: var/mutation-score.txt.
MUTATE_CHILDREN ?= 2
MUTANTS ?=
MUTATE_POINTS ?= 3
# MUTATE_SAMPLE=N: only N mutants per module, drawn with a fixed seed. Judged mutants (equivalent or accepted,
# tests/money/mutation_verdicts.py) whose mutation is unchanged are not run again; MUTATE_ALL=1 runs them too
# (tests/money/mutation_select.py says why).
MUTATE_SAMPLE ?=
MUTATE_ALL ?=
MUTATE_ENV = MONEY_FAIL_FAST=1 MONEY_SAMPLE=0 MONEY_POINTS=$(MUTATE_POINTS) MONGO_RULES=0
mutate: $(STAMP)
	$(if $(MUTANTS),,rm -rf mutants)
	@mkdir -p var
	@# mutmut 3 has no generate-only command: a run filtered to no mutant generates them, then stops.
	-$(MUTATE_ENV) $(BIN)/mutmut run "generate.only" > /dev/null 2>&1
	@# Listed in a file first: `mutmut run` given no name would run every mutant.
	$(BIN)/python -m tests.money.mutation_select $(if $(MUTANTS),--only '$(MUTANTS)') \
		$(if $(MUTATE_SAMPLE),--sample $(MUTATE_SAMPLE)) $(if $(MUTATE_ALL),--all) > var/mutants-to-run.txt
	$(MUTATE_ENV) $(BIN)/mutmut run --max-children $(MUTATE_CHILDREN) $$(cat var/mutants-to-run.txt)
	$(BIN)/python -m tests.money.mutation_score mutants | tee var/mutation-score.txt

# bench/plans.py on the server MONGODB_URL names: a short scale-1 run (every load-test endpoint for 2 s, a few
# curve requests, one pass of every background job), then every command shape the app sent is explained;
# exits 1 on a collection scan. Writes under var/ and bench/results/ only (docs/benchmarks.md is untouched).
bench-plans: $(BENCH_STAMP)
	@test -n "$$MONGODB_URL" || { echo "bench-plans: set MONGODB_URL (query plans need a real MongoDB)"; exit 2; }
	@mkdir -p var
	$(BIN)/python -m bench --seconds 2 --warmup 0.5 --scales 1 --curve-requests 5 --no-realtime-target --no-pin \
		--output var/bench-plans.md

fake-aioz: $(STAMP)
	$(BIN)/aioz-fake --host 127.0.0.1 --port 8081

# Regenerate the lock files after changing dependencies in pyproject.toml or requirements/*.in. Versions
# already locked are kept unless they conflict; `make lock UPGRADE=1` moves everything to the newest.
# Universal locks (every platform, Python >= 3.11) with hashes; dev and bench are constrained to the
# runtime lock so all of them agree on shared packages. `make lock-check` (CI) fails on a stale lock.
LOCK_DIR ?= requirements
LOCK := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/uv.txt
	$(LOCK) pyproject.toml requirements/build.in -o $(LOCK_DIR)/main.txt
	$(LOCK) pyproject.toml requirements/tools.in --extra dev -c $(LOCK_DIR)/main.txt -o $(LOCK_DIR)/dev.txt
	$(LOCK) pyproject.toml requirements/tools.in --extra dev --extra bench -c $(LOCK_DIR)/dev.txt \
		-o $(LOCK_DIR)/bench.txt
	$(LOCK) requirements/uv.in -c $(LOCK_DIR)/dev.txt -o $(LOCK_DIR)/uv.txt

lock-check:
	rm -rf var/lock-check && mkdir -p var && cp -r requirements var/lock-check
	$(MAKE) --no-print-directory lock LOCK_DIR=var/lock-check
	@diff -r -I '^ *#' requirements var/lock-check >/dev/null \
		|| { diff -r -I '^ *#' requirements var/lock-check | head -40; \
		     echo "lock-check: requirements/*.txt are stale; run 'make lock' and commit them"; exit 1; }
	@echo "lock-check: lock files match pyproject.toml"

clean:
	rm -rf $(VENV) var *.egg-info mutants
