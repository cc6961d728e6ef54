# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export FLASK_APP := petitions

.PHONY: install translations messages run migrate seed test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## The compiled message catalogues (.mo) are built from the .po files, never committed.
install: $(STAMP) translations

translations: $(STAMP)
	$(BIN)/pybabel compile --statistics -d petitions/translations

## After changing interface strings: extract them and update every language's .po file.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
		--no-location --sort-output -o petitions/translations/messages.pot .
	$(BIN)/pybabel update -N -i petitions/translations/messages.pot -d petitions/translations

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask demo seed

## Web app, Celery worker and scheduler in the foreground; Ctrl-C stops all three.
## `PORT=8000 make run` serves on another port; the links in emails (BASE_URL) follow
## it unless BASE_URL is set too.
RUN_PORT = $(or $(PORT),5000)
run: seed
	PORT=$(RUN_PORT) BASE_URL="$(or $(BASE_URL),http://127.0.0.1:$(RUN_PORT))" \
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho --procfile Procfile.dev start

## The whole test suite (real PostgreSQL, Redis and SMTP where available; CI=true requires them).
test: install
	$(BIN)/pytest

## Unit and functional tests only, on SQLite: the quick loop while writing code.
test-fast: install
	TEST_BACKENDS=sqlite $(BIN)/pytest -m "not integration"

lint: install
	$(BIN)/ruff check .

## Load tests of the production configuration on 127.0.0.1 (bench/README.md); about
## 10 minutes; results in bench/results/. Needs PostgreSQL, redis-server and wrk.
bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
