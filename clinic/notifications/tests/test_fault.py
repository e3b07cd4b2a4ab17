"""Fault test: real Redis, real PostgreSQL, real Celery workers, and crashes in the middle of dispatch.

2,000 reminders are due at once. A worker (its whole process group) is killed with SIGKILL mid-dispatch and
a new one started; then the broker itself is killed (its queue lost: it keeps nothing on disk) and restarted.
The dispatcher keeps running every two seconds, as beat would every minute. In the end every reminder is
`sent` and the file backend holds exactly one line per reminder. The broker is a private redis-server on a
free port; the shared Redis on 6379 is never touched.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from kombu import Connection

from clinic.notifications.models import Reminder
from clinic.notifications.tasks import reminders_dispatch_due

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REMINDERS = 2000
# Typically 1-2 minutes; the bound leaves room for a machine busy with other test runs.
DEADLINE_SECONDS = 300
DISPATCH_EVERY_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """The pytest database, for the worker processes."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return


class PrivateRedis:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server, "the fault test needs redis-server on PATH"
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the private redis-server did not start")

    def kill(self) -> None:
        kill_group(self.process)
        self.process.wait(timeout=10)


class Worker:
    """`celery -A clinic worker --concurrency=2 --pool=prefork` against the test database and private broker."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log = env, log
        self.process: subprocess.Popen | None = None

    def start(self, name: str) -> None:
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
                [sys.executable, "-m", "celery", "-A", "clinic", "worker", "--concurrency=2", "--pool=prefork"]
                + ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
                + ["-n", f"{name}@%h"],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, like a machine losing power."""
        kill_group(self.process)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        kill_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_group(self.process)
            self.process.wait(timeout=10)


def publish_dispatch(broker_url: str) -> bool:
    """What beat does: put one dispatcher run on the queue. False while the broker is down."""
    try:
        with Connection(broker_url, connect_timeout=1) as broker:
            broker.ensure_connection(max_retries=1)
            with broker.Producer() as producer:
                reminders_dispatch_due.apply_async(producer=producer, expires=10)
        return True
    except Exception:  # noqa: BLE001 - the broker being down is the point of this test
        return False


def sent_count() -> int:
    return Reminder.objects.filter(status=Reminder.Status.SENT).count()


def test_every_reminder_is_sent_exactly_once_through_worker_and_broker_crashes(reachable_patient, tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    due = timezone.now() - timedelta(seconds=1)
    Reminder.objects.bulk_create(
        [
            Reminder(
                facility=reachable_patient.facility,
                patient=reachable_patient,
                kind=Reminder.Kind.CHECK_IN_PROMPT,
                channel=Reminder.Channel.SMS,
                send_at=due,
                deliver_after=due,
                idempotency_key=uuid.uuid4().hex,
            )
            for _ in range(REMINDERS)
        ],
        batch_size=500,
    )
    redis = PrivateRedis(tmp_path)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clinic.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis.url,
        "NOTIFICATIONS_BACKEND": "file",
        "NOTIFICATIONS_FILE_PATH": str(outbox),
        # Short leases, so the claims of a killed worker and the messages of a lost queue are taken again soon.
        "NOTIFICATIONS_CLAIM_LEASE_SECONDS": "15",
        "NOTIFICATIONS_SEND_LEASE_SECONDS": "10",
    }
    worker = Worker(env, tmp_path / "worker.log")
    sent_when: dict[str, int] = {}
    timeline: list[str] = []
    try:
        redis.start()
        worker.start("fault1")
        started = time.monotonic()
        last_dispatch = 0.0
        while (sent := sent_count()) < REMINDERS:
            elapsed = time.monotonic() - started
            if elapsed > DEADLINE_SECONDS:
                break
            if "worker_killed" not in sent_when and sent >= 300:
                worker.kill()
                sent_when["worker_killed"] = sent_count()
                timeline.append(f"worker killed at {elapsed:.0f}s")
                worker.start("fault2")
            elif "worker_killed" in sent_when and "broker_killed" not in sent_when and sent >= 1100:
                redis.kill()
                sent_when["broker_killed"] = sent_count()
                timeline.append(f"broker killed at {elapsed:.0f}s")
                time.sleep(1)
                redis.start()
            if worker.process.poll() is not None:
                # kombu 5.7's redis transport can exit the worker ("Unrecoverable error") when the broker
                # vanishes while messages are unacknowledged; in production the supervisor (compose's
                # `restart: unless-stopped`, systemd's Restart=) starts it again, and so does this harness.
                timeline.append(f"worker exited with {worker.process.returncode} at {elapsed:.0f}s, restarted")
                worker.start(f"fault{len(timeline) + 1}")
            if time.monotonic() - last_dispatch >= DISPATCH_EVERY_SECONDS and publish_dispatch(redis.url):
                last_dispatch = time.monotonic()
            time.sleep(0.2)
        took = time.monotonic() - started
    finally:
        worker.stop()
        if redis.process is not None:
            redis.kill()

    log_tail = (tmp_path / "worker.log").read_text()[-3000:] if (tmp_path / "worker.log").exists() else ""
    statuses = dict(Reminder.objects.values_list("status").annotate(n=Count("id")))
    assert statuses == {Reminder.Status.SENT: REMINDERS}, f"{statuses} after {took:.0f}s {timeline}\n{log_tail}"
    # the crashes happened mid-dispatch, with work left to do
    assert 0 < sent_when["worker_killed"] < sent_when["broker_killed"] < REMINDERS, sent_when

    lines = outbox.read_text().splitlines()
    assert len(lines) == REMINDERS
    delivered = [json.loads(line) for line in lines]
    assert len({line["reminder_id"] for line in delivered}) == REMINDERS
    assert {line["idempotency_key"] for line in delivered} == set(
        Reminder.objects.values_list("idempotency_key", flat=True)
    )
    retaken = Reminder.objects.filter(attempts__gt=1).count()
    print(f"\nfault test: {REMINDERS} sent once in {took:.0f}s ({', '.join(timeline)}; sent before: {sent_when});")
    print(f"{retaken} reminders were taken again after a crash")
