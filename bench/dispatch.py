"""Reminder dispatch benchmark: how many reminders one Celery worker delivers per second with the file
backend, and the plan of the dispatcher's due scan among 1,000,000 stored reminders.

Run (PostgreSQL must be up; redis-server must be on PATH):

    .venv/bin/python bench/dispatch.py
    .venv/bin/python bench/dispatch.py --reminders 5000 --rows 20000 --concurrency 2

What it does:
1. (Re)creates a scratch database (`--database`, default clinic_bench_dispatch, on the PostgreSQL server of
   DATABASE_URL, else 127.0.0.1) and migrates it. Nothing else is touched.
2. Throughput: stores `--reminders` patient reminders, all due now; starts a private redis-server on a free
   port and one `celery -A clinic worker --pool=prefork --concurrency=<--concurrency>` (default 1 process)
   with the file backend; publishes one dispatcher run, as beat would (it claims them and publishes one send
   task per chunk of NOTIFICATIONS["SEND_CHUNK_SIZE"], default 100), and waits until every reminder is
   `sent`. Prints reminders/s between the first and the last recorded delivery (worker start-up excluded; the
   first chunk, recorded at the start of that span, is not counted in it) and from the dispatcher run to the
   last delivery; checks the outbox holds exactly one line per reminder.
3. Plan: replaces the reminders with `--rows` rows shaped like a clinic's history (95 % sent, cancelled,
   suppressed or failed; 5 % scheduled, spread over the next 60 days, 1,000 of them due), runs ANALYZE, then
   EXPLAIN (ANALYZE, BUFFERS) of the exact claim query the dispatcher sends (one batch, FOR UPDATE SKIP
   LOCKED, rolled back). It fails if the plan does not use the partial index `reminder_due_scan`.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"


def server_url() -> str:
    url = os.environ.get("DATABASE_URL", DEFAULT_SERVER)
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def recreate_database(name: str) -> str:
    with psycopg.connect(f"{server_url()}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url()}/{name}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = shutil.which("redis-server") or sys.exit("redis-server is not on PATH")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    sys.exit("redis-server did not start")


def setup_django(database_url: str, outbox: Path, broker_url: str) -> dict:
    """Configure this process and return the environment for the worker: same database, broker and outbox."""
    env = {
        "DJANGO_SETTINGS_MODULE": "clinic.settings.local",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "CELERY_BROKER_URL": broker_url,
        "NOTIFICATIONS_BACKEND": "file",
        "NOTIFICATIONS_FILE_PATH": str(outbox),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    return {**os.environ, **env}


def make_patient():
    from clinic.accounts.models import Facility
    from patients.models import CommunicationConsent, Patient

    facility = Facility.objects.create(name="Bench Facility")
    patient = Patient.objects.create(
        facility=facility,
        mrn="B-000001",
        first_name="Bench",
        last_name="Patient",
        date_of_birth="1985-05-17",
        phone="+16175550123",
        email="bench@example.org",
        preferred_channel="sms",
    )
    CommunicationConsent.objects.create(patient=patient, channel="sms", action="opt_in", source="paper_form")
    return patient


def throughput(patient, count: int, concurrency: int, env: dict, broker_url: str, outbox: Path, log: Path) -> dict:
    from django.db.models import Max, Min
    from django.utils import timezone
    from kombu import Connection

    from clinic.notifications.models import Reminder
    from clinic.notifications.tasks import reminders_dispatch_due

    now = timezone.now()
    Reminder.objects.bulk_create(
        [
            Reminder(
                facility_id=patient.facility_id,
                patient=patient,
                kind="appointment",
                channel="sms",
                send_at=now,
                deliver_after=now,
                idempotency_key=uuid.uuid4().hex,
                context={"at": (now + timedelta(days=1)).isoformat(), "provider": "R. Lee"},
            )
            for _ in range(count)
        ],
        batch_size=1000,
    )
    with open(log, "w") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "clinic", "worker", "--pool=prefork", f"--concurrency={concurrency}"]
            + ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
            + ["-n", "dispatch-bench@%h"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with Connection(broker_url) as broker, broker.Producer() as producer:
            reminders_dispatch_due.apply_async(producer=producer)
        published = timezone.now()
        deadline = time.monotonic() + 600
        while Reminder.objects.filter(status="scheduled").exists():
            if time.monotonic() > deadline or worker.poll() is not None:
                sys.exit(
                    f"The worker did not deliver everything (exit status {worker.returncode}). "
                    f"Its log:\n{log.read_text()[-4000:]}"
                )
            time.sleep(0.5)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    not_sent = Reminder.objects.exclude(status="sent").count()
    assert not not_sent, f"{not_sent} reminders were not sent; see the worker's log at {log}"
    span = Reminder.objects.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    lines = outbox.read_text().splitlines()
    assert len(lines) == count, f"{len(lines)} lines in the outbox for {count} reminders"
    delivering = (span["last"] - span["first"]).total_seconds()
    # A chunk's reminders are recorded sent at one instant: those of the first chunk were delivered before the
    # span began, so they are not counted in it (with one reminder per task this is count - 1).
    after_first = count - Reminder.objects.filter(sent_at=span["first"]).count()
    chunks = Reminder.objects.values("sent_at").distinct().count()
    return {
        "reminders": count,
        "concurrency": concurrency,
        "chunks": chunks,
        "per_second": after_first / delivering if delivering else float("inf"),
        "per_second_from_dispatch": count / (span["last"] - published).total_seconds(),
    }


def load_history(patient, rows: int) -> None:
    """`rows` reminders shaped like a clinic's history, in one INSERT ... SELECT."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE notifications_reminder")
        cursor.execute(
            """
            INSERT INTO notifications_reminder (
                id, created_at, updated_at, facility_id, patient_id, staff_id, kind, channel, send_at,
                deliver_after, status, sent_at, attempts, last_error, suppressed_reason, claimed_until,
                idempotency_key, subject_type, subject_id, context)
            SELECT gen_random_uuid(), at - interval '1 day', at, %(facility)s, %(patient)s, NULL, 'appointment',
                   CASE WHEN status = 'suppressed' THEN '' ELSE 'sms' END, at, at, status,
                   CASE WHEN status = 'sent' THEN at + interval '2 seconds' END,
                   CASE WHEN status IN ('sent', 'failed') THEN 1 ELSE 0 END,
                   CASE WHEN status = 'failed' THEN 'http_503' ELSE '' END,
                   CASE WHEN status = 'suppressed' THEN 'no_channel' ELSE '' END,
                   NULL, replace(gen_random_uuid()::text, '-', ''), 'scheduling.appointment', n::text, '{}'::jsonb
            FROM (
                SELECT n,
                       CASE WHEN n <= %(due)s THEN now() - interval '1 minute' * (n %% 30)
                            WHEN n <= %(waiting)s THEN now() + interval '1 minute' * (n %% 86400)
                            ELSE now() - interval '1 minute' * (n %% 525600) END AS at,
                       CASE WHEN n <= %(waiting)s THEN 'scheduled'
                            WHEN n %% 100 < 85 THEN 'sent'
                            WHEN n %% 100 < 93 THEN 'cancelled'
                            WHEN n %% 100 < 98 THEN 'suppressed'
                            ELSE 'failed' END AS status
                FROM generate_series(1, %(rows)s) AS n
            ) history
            """,
            {
                "facility": patient.facility_id,
                "patient": patient.pk,
                "rows": rows,
                "due": 1000,
                "waiting": rows // 20,
            },
        )
        cursor.execute("VACUUM ANALYZE notifications_reminder")


def due_scan_plan() -> tuple[str, str, dict]:
    from django.db import connection, transaction
    from django.utils import timezone

    from clinic.notifications.conf import notification_settings
    from clinic.notifications.delivery import due_reminders

    claim = (
        due_reminders(timezone.now())
        .select_for_update(skip_locked=True)
        .values_list("id", "attempts")[: notification_settings().batch_size]
    )
    with transaction.atomic():  # FOR UPDATE needs a transaction; rolled back, so nothing stays claimed
        sql = str(claim.query)
        plan = claim.explain(analyze=True, buffers=True)
        transaction.set_rollback(True)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FILTER (WHERE status = 'scheduled'), count(*),
                      pg_size_pretty(pg_relation_size('reminder_due_scan')),
                      pg_size_pretty(pg_relation_size('notifications_reminder'))
               FROM notifications_reminder"""
        )
        waiting, total, index_size, table_size = cursor.fetchone()
    sizes = {"waiting": waiting, "total": total, "index": index_size, "table": table_size}
    return sql, plan, sizes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="clinic_bench_dispatch")
    parser.add_argument("--reminders", type=int, default=5000, help="reminders delivered in the throughput run")
    parser.add_argument("--concurrency", type=int, default=1, help="worker pool processes")
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored reminders for the due-scan plan")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
    outbox = workdir / "outbox.jsonl"
    database_url = recreate_database(args.database)
    redis, broker_url = start_redis(workdir)
    try:
        env = setup_django(database_url, outbox, broker_url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        patient = make_patient()

        result = throughput(patient, args.reminders, args.concurrency, env, broker_url, outbox, workdir / "worker.log")
        print(
            f"Throughput: {result['reminders']:,} reminders, one worker with {result['concurrency']} process(es), "
            f"file backend, {result['chunks']} chunks recorded: {result['per_second']:.0f} reminders/s while "
            f"delivering ({result['per_second_from_dispatch']:.0f}/s counting from the dispatcher run, worker "
            "start-up included); one outbox line per reminder."
        )

        started = time.monotonic()
        load_history(patient, args.rows)
        print(f"\nLoaded {args.rows:,} stored reminders in {time.monotonic() - started:.0f}s.")
        sql, plan, sizes = due_scan_plan()
        print(
            f"Due scan among {sizes['total']:,} reminders ({sizes['waiting']:,} scheduled); "
            f"index reminder_due_scan {sizes['index']}, table {sizes['table']}.\n\n{sql}\n\n{plan}"
        )
        if "reminder_due_scan" not in plan or "Seq Scan" in plan:
            sys.exit("The due scan does not use the partial index reminder_due_scan.")
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        os.killpg(redis.pid, signal.SIGTERM)
        redis.wait(timeout=10)


if __name__ == "__main__":
    main()
