# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export FLASK_APP := petitions

.PHONY: install run migrate seed test test-fast lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask demo seed

## Web app, Celery worker and scheduler in the foreground; Ctrl-C stops all three.
run: seed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho --procfile Procfile.dev start

## The whole test suite (real PostgreSQL, Redis and SMTP where available; CI=true requires them).
test: install
	$(BIN)/pytest

## Unit and functional tests only, on SQLite: the quick loop while writing code.
test-fast: install
	TEST_BACKENDS=sqlite $(BIN)/pytest -m "not integration"

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
