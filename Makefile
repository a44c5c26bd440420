# Every install step lives here, so a fresh machine needs only Python.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint clean openapi conformance conformance-short bench bench-compare bench-candidates bench-instructions

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Run the service on http://127.0.0.1:$(PORT) with the embedded SQLite database
## (production settings from gunicorn.conf.py; GUNICORN_WORKERS=2 etc. override them).
PORT ?= 8000
run: $(STAMP)
	@$(BIN)/flask --app wsgi welcome "http://$${GUNICORN_BIND:-127.0.0.1:$(PORT)}"
	$(BIN)/gunicorn --config gunicorn.conf.py --bind "$${GUNICORN_BIND:-127.0.0.1:$(PORT)}" wsgi:app

## Run the linters (ruff, and import-linter for the direction of imports), a short schemathesis run against the service under gunicorn,
## then the whole test suite on SQLite and again on PostgreSQL. The PostgreSQL
## run uses ACCOUNTAPPS_TEST_DATABASE_URL (.ci/run starts a server); without one
## its tests are skipped, saying why. Exit status 5 ("no tests collected", e.g. a
## PYTEST_ARGS selection that matches nothing) is not a failure. The pytest runs
## come last so that the final line is pytest's own count of what ran.
## NO_CONFORMANCE=1 skips the schemathesis run (quick local iterations).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	[ -n "$(NO_CONFORMANCE)" ] || $(MAKE) --no-print-directory conformance-short
	ACCOUNTAPPS_TEST_BACKEND=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]
	@if [ -n "$$ACCOUNTAPPS_TEST_DATABASE_URL" ]; then \
	  ACCOUNTAPPS_TEST_BACKEND=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]; \
	else \
	  echo "PostgreSQL run skipped: ACCOUNTAPPS_TEST_DATABASE_URL is not set (.ci/run starts a server; see docs/deployment.md)"; \
	fi

## Regenerate openapi/openapi.yaml and schemas/ from the code (commit the result).
openapi: $(STAMP)
	$(BIN)/flask --app wsgi apidoc write

## schemathesis against the service under gunicorn: a short run (CI) and a long one.
## The short run goes again on PostgreSQL when ACCOUNTAPPS_TEST_DATABASE_URL is set
## (in a schema of its own; skipped, saying so, if no server answers there).
conformance-short: $(STAMP)
	BIN=$(BIN) MAX_EXAMPLES=25 conformance/run.sh --phases examples,fuzzing,stateful
	[ -z "$$ACCOUNTAPPS_TEST_DATABASE_URL" ] || BIN=$(BIN) MAX_EXAMPLES=25 \
	  CONFORMANCE_DATABASE_URL="$$ACCOUNTAPPS_TEST_DATABASE_URL" \
	  conformance/run.sh --phases examples,fuzzing,stateful

conformance: $(STAMP)
	BIN=$(BIN) MAX_EXAMPLES=100 conformance/run.sh --max-time 1200

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) instance .pytest_cache

## Benchmark against bare Flask under the same gunicorn settings (see bench/README.md).
## BENCH_ROWS="10000 1000000" compares sizes; BENCH_DATABASE_URL=postgresql://... for PG.
BENCH_ROWS ?= 10000
BENCH_SECONDS ?= 5
bench: $(STAMP)
	BENCH_ROWS="$(BENCH_ROWS)" BENCH_SECONDS="$(BENCH_SECONDS)" $(BIN)/python -m bench.run $(BENCH_ARGS)

## The service at BEFORE (a commit) against this checkout, measured alternately in one run.
BEFORE ?= HEAD~1
BENCH_ROUNDS ?= 2
## Instructions per request, in-process, counted by valgrind: unmoved by a busy machine.
BENCH_OPS ?= get_one get_304 create create_idempotent patch cancel
bench-instructions: $(STAMP)
	$(BIN)/python -m bench.instructions --rows "$(firstword $(BENCH_ROWS))" --op $(BENCH_OPS) \
	  --without-events

bench-compare: $(STAMP)
	BENCH_ROWS="$(BENCH_ROWS)" BENCH_SECONDS="$(BENCH_SECONDS)" $(BIN)/python -m bench.compare \
	  --before "$(BEFORE)" --rounds "$(BENCH_ROUNDS)" $(BENCH_ARGS)

## gunicorn settings side by side, to choose the defaults (docs/performance.md):
## BENCH_CANDIDATES="workers=3 threads=2; workers=2 threads=4" (default: the 2-core list).
bench-candidates: $(STAMP)
	BENCH_ROWS="$(BENCH_ROWS)" BENCH_SECONDS="$(BENCH_SECONDS)" $(BIN)/python -m bench.candidates \
	  --rounds "$(BENCH_ROUNDS)" $(BENCH_ARGS)
