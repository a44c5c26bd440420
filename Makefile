# Every install step lives here, so a fresh machine needs only Python.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint clean openapi conformance conformance-short

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Run the service on http://127.0.0.1:8000 with the embedded SQLite database.
run: $(STAMP)
	$(BIN)/gunicorn --bind 127.0.0.1:8000 --workers 2 wsgi:app

## Run the whole test suite (and the linter).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Regenerate openapi/openapi.yaml and schemas/ from the code (commit the result).
openapi: $(STAMP)
	$(BIN)/flask --app wsgi apidoc write

## schemathesis against the service under gunicorn: a short run (CI) and a long one.
conformance-short: $(STAMP)
	BIN=$(BIN) MAX_EXAMPLES=25 conformance/run.sh --phases examples,fuzzing,stateful

conformance: $(STAMP)
	BIN=$(BIN) MAX_EXAMPLES=100 conformance/run.sh --max-time 1200

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache
