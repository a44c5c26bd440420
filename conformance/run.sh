#!/usr/bin/env bash
# schemathesis against the service under gunicorn, with every check and the
# stateful links of openapi/openapi.yaml (create -> get, update, actions).
#
#   conformance/run.sh            a few examples per operation, every phase
#   MAX_EXAMPLES=200 conformance/run.sh    longer run (`make conformance`)
#   CONFORMANCE_DATABASE_URL=postgresql://... conformance/run.sh
#                                 the same against PostgreSQL, in a schema of its
#                                 own that is dropped afterwards
#
# Extra arguments go to `schemathesis run`. Against a deployment, run
# schemathesis yourself: see docs/openapi.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
MAX_EXAMPLES=${MAX_EXAMPLES:-5}
PORT=${PORT:-$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
WORK=$(mktemp -d)
PID=
SCHEMA=
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    if [ -n "$SCHEMA" ]; then
        "$BIN/python" -m conformance.pg_schema drop "$CONFORMANCE_DATABASE_URL" "$SCHEMA" || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${CONFORMANCE_DATABASE_URL:-}" ]; then
    # A schema of its own: prints it, or exits 3 if the server cannot be reached.
    status=0
    SCHEMA=$("$BIN/python" -m conformance.pg_schema create "$CONFORMANCE_DATABASE_URL") || status=$?
    if [ "$status" = 3 ] && [ "${ACCOUNTAPPS_TEST_REQUIRE_POSTGRES:-}" != 1 ]; then
        echo "conformance: SKIPPED on PostgreSQL: no server at the URL given" >&2
        exit 0
    elif [ "$status" != 0 ]; then
        exit "$status"
    fi
    ACCOUNTAPPS_DATABASE_URL=$("$BIN/python" -m conformance.pg_schema url "$CONFORMANCE_DATABASE_URL" "$SCHEMA")
    export ACCOUNTAPPS_DATABASE_URL
    echo "conformance: PostgreSQL, schema $SCHEMA" >&2
else
    export ACCOUNTAPPS_DATABASE_URL="sqlite:///$WORK/conformance.db"
fi
export ACCOUNTAPPS_API_KEYS="conformance-api-key-0123456789"
export ACCOUNTAPPS_JWT_SECRET="conformance-secret-0123456789-0123456789-0123456789"
export ACCOUNTAPPS_LOG_LEVEL=WARNING
# The hooks subscribe webhook receivers on loopback (conformance/hooks.py); no
# dispatcher runs, so nothing is ever delivered.
export ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE=1
# schemathesis sends thousands of requests a minute from one client: a limit it
# never reaches (429 is documented; tests/test_limits.py covers it).
export ACCOUNTAPPS_RATE_LIMIT="${ACCOUNTAPPS_RATE_LIMIT:-1000000/minute}"
export ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS="${ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS:-1000000/minute}"

# The longest documented query (percent-encoded) must fit in gunicorn's request line.
# No access log: thousands of lines would bury schemathesis's report.
GUNICORN_ACCESSLOG="" "$BIN/gunicorn" --bind "127.0.0.1:$PORT" --workers 2 --log-level warning \
  --limit-request-line 8190 wsgi:app &
PID=$!
"$BIN/python" - "$PORT" <<'PY'
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/accountApplications/docs", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("the service did not start")
PY

# Resources for the positive cases to name (conformance/seed.py, conformance/hooks.py).
"$BIN/python" -m conformance.seed "http://127.0.0.1:$PORT/accountApplications" >"$WORK/seed.json"
export CONFORMANCE_SEED="$WORK/seed.json"

# Bearer tokens come from conformance/hooks.py: an administrator (every action is
# allowed to it) with every scope of the API, and a new customer for each create.
PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=conformance/hooks.py \
"$BIN/schemathesis" --config-file conformance/schemathesis.toml run openapi/openapi.yaml \
  --url "http://127.0.0.1:$PORT/accountApplications" \
  -H "API-Key: $ACCOUNTAPPS_API_KEYS" \
  --checks all --max-examples "$MAX_EXAMPLES" --seed "${SEED:-1}" \
  --generation-database none --no-color "$@"
