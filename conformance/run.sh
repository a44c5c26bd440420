#!/usr/bin/env bash
# schemathesis against the service under gunicorn, with every check and the
# stateful links of openapi/openapi.yaml (create -> get, update, actions).
#
#   conformance/run.sh            a few examples per operation, every phase
#   MAX_EXAMPLES=200 conformance/run.sh    longer run (`make conformance`)
#
# Extra arguments go to `schemathesis run`. Against a deployment, run
# schemathesis yourself: see docs/openapi.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
MAX_EXAMPLES=${MAX_EXAMPLES:-5}
PORT=${PORT:-$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

export ACCOUNTAPPS_DATABASE_URL="sqlite:///$WORK/conformance.db"
export ACCOUNTAPPS_API_KEYS="conformance-api-key-0123456789"
export ACCOUNTAPPS_JWT_SECRET="conformance-secret-0123456789-0123456789-0123456789"
export ACCOUNTAPPS_LOG_LEVEL=WARNING
# schemathesis sends thousands of requests a minute from one client: a limit it
# never reaches (429 is documented; tests/test_limits.py covers it).
export ACCOUNTAPPS_RATE_LIMIT="${ACCOUNTAPPS_RATE_LIMIT:-1000000/minute}"

# The longest documented query (percent-encoded) must fit in gunicorn's request line.
"$BIN/gunicorn" --bind "127.0.0.1:$PORT" --workers 2 --log-level warning \
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

# Bearer tokens come from conformance/hooks.py: an administrator (every action is
# allowed to it) with every scope of the API, and a new customer for each create.
SCHEMATHESIS_HOOKS=conformance/hooks.py \
"$BIN/schemathesis" --config-file conformance/schemathesis.toml run openapi/openapi.yaml \
  --url "http://127.0.0.1:$PORT/accountApplications" \
  -H "API-Key: $ACCOUNTAPPS_API_KEYS" \
  --checks all --max-examples "$MAX_EXAMPLES" --seed "${SEED:-1}" \
  --generation-database none --no-color "$@"
