"""Fill a scratch PostgreSQL database with realistic data at clinic-network scale, with COPY.

Run (defaults: 100,000 patients across 20 facilities, 2,000,000 observations, 1,000,000 reminders,
1,000,000 audit events):

    .venv/bin/python bench/generate.py --reset
    .venv/bin/python bench/generate.py --reset --database clinic_bench_1k --patients 1000 \
        --observations 20000 --reminders 10000 --audit-events 10000

The database (default `clinic_bench`, on the PostgreSQL server of DATABASE_URL, else 127.0.0.1) is created,
migrated and loaded; `--reset` drops it first. What is loaded is described in bench/dataset.py. Each table is
one COPY; secondary indexes are dropped during the load and rebuilt afterwards, and foreign keys are checked
once at the end (one anti-join per key) instead of by a trigger per row. The audit table is append-only: to
start over, drop the database (`--reset`), never delete rows.

Logins: every staff member and every patient with an app account has the password `--password` (default
`bench-pass-123456`); staff are `f01-nurse-01`, `f07-physician-02`, ... and patients `p0000001`, ...
The summary (rows, timings, size) is kept in bench/generations.json, which bench/run.py reports.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import psycopg

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
SUMMARIES = BENCH / "generations.json"


def server_url() -> str:
    """The server part of DATABASE_URL (without the database name)."""
    url = os.environ.get("DATABASE_URL", DEFAULT_SERVER)
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def database_url(name: str) -> str:
    return f"{server_url()}/{name}"


def prepare_database(name: str, *, reset: bool) -> None:
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not reset:
            raise SystemExit(f"Database {name} exists; pass --reset to drop and rebuild it.")
        if exists:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def setup_django(name: str) -> None:
    os.environ["DATABASE_URL"] = database_url(name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="clinic_bench")
    parser.add_argument("--reset", action="store_true", help="drop the database first if it exists")
    parser.add_argument("--facilities", type=int, default=20)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--observations", type=int, default=2_000_000)
    parser.add_argument("--reminders", type=int, default=1_000_000)
    parser.add_argument("--audit-events", type=int, default=1_000_000)
    parser.add_argument("--patient-login-share", type=float, default=0.3)
    parser.add_argument("--readmission-share", type=float, default=0.12)
    parser.add_argument("--password", default="bench-pass-123456")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    prepare_database(args.database, reset=args.reset)
    setup_django(args.database)

    from django.core.management import call_command
    from django.db import connection

    from bench.dataset import Generator, Scale

    scale = Scale(
        **{name: getattr(args, name) for name in Scale.__dataclass_fields__},
    )
    print(
        f"Generating {args.database}: {scale.patients:,} patients in {scale.facilities} facilities, "
        f"{scale.observations:,} observations, {scale.reminders:,} reminders, {scale.audit_events:,} audit events"
    )
    call_command("migrate", verbosity=0)
    with connection.cursor() as wrapper:
        generator = Generator(database_url(args.database), wrapper.cursor, scale)
        generator.run()
        size = wrapper.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    seconds = round(time.perf_counter() - started, 1)
    rows = generator.counts()
    print(f"Done in {seconds} s; database size {size}.")
    for label, count in rows.items():
        print(f"  {label:36s} {count:>12,}")

    summaries = json.loads(SUMMARIES.read_text()) if SUMMARIES.exists() else {}
    summaries[args.database] = {
        "command": "bench/generate.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "generated_at": generator.now.isoformat(),
        "seconds": seconds,
        "steps": generator.timings,
        "rows": rows,
        "size": size,
        "password": scale.password,
    }
    SUMMARIES.write_text(json.dumps(summaries, indent=2) + "\n")


if __name__ == "__main__":
    main()
