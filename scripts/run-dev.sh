#!/usr/bin/env bash
# `make run`: migrate, seed the demo data, then run the API + admin, a Celery worker and Celery beat.
# Embedded defaults (SQLite, kombu's filesystem broker) unless DATABASE_URL / REDIS_URL are set.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-clinic.settings.local}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var/broker/processed

"$PYTHON" manage.py migrate --no-input
"$PYTHON" manage.py seed_demo

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping..."
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$PYTHON" -m celery -A clinic worker --loglevel=INFO --concurrency=2 &
pids+=($!)
"$PYTHON" -m celery -A clinic beat --loglevel=INFO &
pids+=($!)
"$PYTHON" manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)

sleep 2
cat <<MSG

  Recovery clinic is running.
    API docs  http://$HOST:$PORT/api/docs/
    Admin     http://$HOST:$PORT/admin/
    Health    http://$HOST:$PORT/healthz
  Demo logins (password: ${DEMO_PASSWORD:-demo-pass-123}):
    staff:   physician, nurse, counselor, casemanager, frontdesk, clinicadmin  (Demo Recovery Center)
             othernurse  (Other Clinic)
    patient: patient
  Token:  curl -s -X POST http://$HOST:$PORT/api/v1/auth/token/ -H 'Content-Type: application/json' \\
            -d '{"username": "nurse", "password": "${DEMO_PASSWORD:-demo-pass-123}"}'
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
