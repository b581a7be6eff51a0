# Two commands on a fresh machine (only Python >= 3.11 and make needed):
#   make run   - install into .venv and serve http://127.0.0.1:8000 (embedded DB, fake AIOZ, demo tokens)
#   make test  - install into .venv and run lint + the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint lint-openapi format bench fake-aioz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/allmine-live --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

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

bench: $(STAMP)
	$(BIN)/python -m bench

fake-aioz: $(STAMP)
	$(BIN)/aioz-fake --host 127.0.0.1 --port 8081

clean:
	rm -rf $(VENV) var *.egg-info
