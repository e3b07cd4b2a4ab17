#!/usr/bin/env bash
# Fails fast, with a clear message, when the test database or Redis is not reachable.
set -euo pipefail
PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY'
import os, sys, time
import psycopg, redis

db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clinic")
db_admin = db.rsplit("/", 1)[0] + "/postgres"
cache = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
deadline = time.monotonic() + 30
for name, probe in (
    ("PostgreSQL at " + db_admin.split("@")[-1], lambda: psycopg.connect(db_admin, connect_timeout=2).close()),
    ("Redis at " + cache.split("@")[-1], lambda: redis.Redis.from_url(cache, socket_timeout=2).ping()),
):
    while True:
        try:
            probe()
            break
        except Exception as error:  # noqa: BLE001
            if time.monotonic() > deadline:
                sys.exit(f"{name} is not reachable ({type(error).__name__}). Start it (see README) and retry.")
            time.sleep(1)

# The project database itself (the suite makes its own test_ copy; manage.py checks want the original).
name = db.rsplit("/", 1)[1].split("?")[0]
with psycopg.connect(db_admin, autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        conn.execute(f'CREATE DATABASE "{name}"')
PY
