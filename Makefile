# Every install step lives here, so a fresh machine needs only Python.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint clean bench

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

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache

## Benchmark against bare Flask under the same gunicorn settings (see docs/bench.md).
## BENCH_ROWS="10000 1000000" compares sizes; BENCH_DATABASE_URL=postgresql://... for PG.
BENCH_ROWS ?= 10000
BENCH_SECONDS ?= 5
bench: $(STAMP)
	BENCH_ROWS="$(BENCH_ROWS)" BENCH_SECONDS="$(BENCH_SECONDS)" $(BIN)/python -m bench.run $(BENCH_ARGS)
