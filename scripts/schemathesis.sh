#!/usr/bin/env bash
# Fuzz the running API against its own OpenAPI schema with a staff token and a patient token:
# no 5xx, and every response must match the schema. Uses a scratch PostgreSQL database with the demo data.
# Usage: scripts/schemathesis.sh   (make fuzz; FUZZ_EXAMPLES and FUZZ_PORT tune it)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PORT=${FUZZ_PORT:-8765}
EXAMPLES=${FUZZ_EXAMPLES:-25}
DB_ROOT=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/clinic}
export DATABASE_URL="${DB_ROOT%/*}/clinic_fuzz"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export DJANGO_SETTINGS_MODULE=clinic.settings.test
REPORT_DIR=${FUZZ_REPORT_DIR:-var/schemathesis}
mkdir -p "$REPORT_DIR"

"$PYTHON" - <<'PY'
import os, psycopg
url = os.environ["DATABASE_URL"]
admin, name = url.rsplit("/", 1)[0] + "/postgres", url.rsplit("/", 1)[1]
with psycopg.connect(admin, autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{name}"')
PY
"$PYTHON" manage.py migrate --no-input -v0
"$PYTHON" manage.py seed_demo >/dev/null

LOG_LEVEL=ERROR "$PYTHON" -m gunicorn clinic.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --timeout 60 \
  --env DJANGO_SETTINGS_MODULE=clinic.settings.test --log-level warning &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.5
done

token() {
  curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/token/" -H 'Content-Type: application/json' \
    -d "{\"username\": \"$1\", \"password\": \"${DEMO_PASSWORD:-demo-pass-123}\"}" \
    | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["access"])'
}

status=0
for user in nurse patient; do
  echo "== schemathesis as $user =="
  # Access tokens live 5 minutes; each run is bounded well below that. One worker: hypothesis parses
  # lambdas with the ast module, which is not thread-safe on Python 3.11 ("AST constructor recursion depth
  # mismatch" under --workers 2).
  "$(dirname "$PYTHON")/schemathesis" run "http://127.0.0.1:$PORT/api/schema/" \
    --header "Authorization: Bearer $(token "$user")" \
    --checks not_a_server_error,response_schema_conformance,content_type_conformance \
    --max-examples "$EXAMPLES" --seed 20261123 --workers 1 --max-time 200 --request-timeout 20 \
    --exclude-path-regex '/auth/logout/' \
    --report junit --report-junit-path "$REPORT_DIR/$user.xml" --warnings off || status=1
done
exit $status
