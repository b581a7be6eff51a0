# Two commands on a fresh machine (only Python >= 3.11 and make needed):
#   make run   - install into .venv and serve http://127.0.0.1:8000 (embedded DB, fake AIOZ, demo tokens)
#   make test  - install into .venv and run lint + the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench fake-aioz clean

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

test: lint
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff check --fix app tests bench
	$(BIN)/ruff format app tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

fake-aioz: $(STAMP)
	$(BIN)/aioz-fake --host 127.0.0.1 --port 8081

clean:
	rm -rf $(VENV) var *.egg-info
