import json
import multiprocessing
import smtplib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from clinic.notifications.backends import (
    ConsoleBackend,
    DeliveryError,
    DjangoEmailBackend,
    FileBackend,
    HttpBackend,
    Message,
    backend_for,
)
from clinic.notifications.conf import notification_settings
from clinic.notifications.tests.conftest import configure
from clinic.notifications.tests.outbox_writer import write_keys

pytestmark = pytest.mark.usefixtures("notifications_settings")


def message(key: str = "key-1", channel: str = "sms", to: str = "+16175550123") -> Message:
    return Message(
        reminder_id=f"r-{key}", idempotency_key=key, channel=channel, to=to, subject="Reminder", text="Hello."
    )


def test_the_file_backend_writes_one_json_line_per_message(outbox):
    backend = FileBackend(notification_settings())
    assert backend.send(message("a")).duplicate is False
    assert backend.send(message("b", channel="email", to="x@example.org")).duplicate is False
    lines = outbox.lines()
    assert [(line["reminder_id"], line["idempotency_key"], line["channel"]) for line in lines] == [
        ("r-a", "a", "sms"),
        ("r-b", "b", "email"),
    ]
    assert lines[0]["text"] == "Hello."


def test_the_file_backend_never_writes_a_key_twice(outbox):
    assert FileBackend(notification_settings()).send(message("a")).duplicate is False
    # a new backend object (another task) starts with no memory of its own
    assert FileBackend(notification_settings()).send(message("a")).duplicate is True
    assert outbox.reminder_ids() == ["r-a"]


def test_the_file_backend_sees_lines_other_processes_wrote_since_it_last_looked(outbox):
    backend = FileBackend(notification_settings())
    backend.send(message("a"))
    with open(outbox.path, "a") as other_process:
        other_process.write(json.dumps({"idempotency_key": "b", "reminder_id": "r-b"}) + "\n")
    assert backend.send(message("b")).duplicate is True
    assert backend.send(message("c")).duplicate is False
    assert outbox.reminder_ids() == ["r-a", "r-b", "r-c"]


def test_the_file_backend_starts_over_when_the_file_is_replaced(outbox):
    backend = FileBackend(notification_settings())
    backend.send(message("a"))
    outbox.path.unlink()
    assert backend.send(message("a")).duplicate is False
    assert outbox.reminder_ids() == ["r-a"]


def test_many_processes_writing_the_same_keys_leave_one_line_per_key(outbox):
    keys = [f"k{number}" for number in range(150)]
    context = multiprocessing.get_context("spawn")
    config = notification_settings()
    with context.Pool(4) as pool:
        written = pool.starmap(write_keys, [(config, keys)] * 4)
    assert sum(written) == 150
    assert sorted(line["idempotency_key"] for line in outbox.lines()) == sorted(keys)


def test_many_threads_writing_the_same_keys_leave_one_line_per_key(outbox):
    keys = [f"k{number}" for number in range(100)]
    config = notification_settings()
    threads = [threading.Thread(target=write_keys, args=(config, keys)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(line["idempotency_key"] for line in outbox.lines()) == sorted(keys)


def test_the_console_backend_prints_the_message(capsys):
    ConsoleBackend(notification_settings()).send(message("a"))
    printed = capsys.readouterr().out
    assert "Hello." in printed
    assert "key a" in printed
    assert "+16175550123" not in printed  # the address is patient data: never on the console


def test_the_email_backend_uses_djangos_email_with_the_key_as_message_id(settings):
    configure(settings, FROM_EMAIL="reminders@clinic.example")
    result = DjangoEmailBackend(notification_settings()).send(message("k-9", channel="email", to="p@example.org"))
    [sent] = mail.outbox
    assert (sent.to, sent.subject, sent.body, sent.from_email) == (
        ["p@example.org"],
        "Reminder",
        "Hello.",
        "reminders@clinic.example",
    )
    assert sent.extra_headers["Message-ID"] == "<k-9@clinic.example>" == result.provider_id


def test_the_email_backend_refuses_other_channels():
    with pytest.raises(DeliveryError) as error:
        DjangoEmailBackend(notification_settings()).send(message("a", channel="sms"))
    assert (error.value.code, error.value.permanent) == ("channel_unsupported", True)


@pytest.mark.parametrize(
    ("raised", "code", "permanent"),
    [
        (smtplib.SMTPServerDisconnected("gone"), "smtp_SMTPServerDisconnected", False),
        (ConnectionRefusedError(), "smtp_ConnectionRefusedError", False),
        (smtplib.SMTPRecipientsRefused({"p@example.org": (550, b"no")}), "smtp_recipient_refused", True),
    ],
)
def test_smtp_errors(monkeypatch, raised, code, permanent):
    def fail(self, fail_silently=False):
        raise raised

    monkeypatch.setattr("django.core.mail.EmailMessage.send", fail)
    with pytest.raises(DeliveryError) as error:
        DjangoEmailBackend(notification_settings()).send(message("a", channel="email", to="p@example.org"))
    assert (error.value.code, error.value.permanent) == (code, permanent)


class Gateway:
    """A local HTTP SMS/push gateway that records requests and answers with a set status."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.delay = 0.0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append({"headers": dict(self.headers), "body": json.loads(body), "path": self.path})
                time.sleep(gateway.delay)
                payload = json.dumps({"id": f"gw-{len(gateway.requests)}"}).encode()
                self.send_response(gateway.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/messages"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway(settings):
    gateway = Gateway()
    configure(
        settings,
        CHANNEL_BACKENDS={"sms": "http", "push": "http"},
        HTTP_URLS={"sms": gateway.url, "push": gateway.url},
        HTTP_TOKEN="gw-token",
        HTTP_TIMEOUT=1,
    )
    yield gateway
    gateway.close()


def test_the_http_backend_posts_the_message_with_its_idempotency_key(gateway):
    result = backend_for("sms").send(message("key-42"))
    [request] = gateway.requests
    assert request["path"] == "/messages"
    assert request["headers"]["Idempotency-Key"] == "key-42"
    assert request["headers"]["Authorization"] == "Bearer gw-token"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"] == {"channel": "sms", "to": "+16175550123", "subject": "Reminder", "text": "Hello."}
    assert result.provider_id == "gw-1"


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (500, "http_500", False),
        (503, "http_503", False),
        (429, "http_429", False),
        (409, "http_409", False),
        (400, "http_400", True),
        (401, "http_401", True),
        (422, "http_422", True),
    ],
)
def test_http_errors_are_retried_or_not(gateway, status, code, permanent):
    gateway.status = status
    with pytest.raises(DeliveryError) as error:
        backend_for("sms").send(message())
    assert (error.value.code, error.value.permanent) == (code, permanent)


def test_a_slow_gateway_times_out(gateway):
    gateway.delay = 1.5
    with pytest.raises(DeliveryError) as error:
        backend_for("push").send(message(channel="push", to="user-1"))
    assert (error.value.code, error.value.permanent) == ("http_timeout", False)


def test_an_unreachable_gateway_is_retried(gateway, settings):
    gateway.close()
    with pytest.raises(DeliveryError) as error:
        backend_for("sms").send(message())
    assert (error.value.code, error.value.permanent) == ("http_unreachable", False)


def test_an_unconfigured_gateway_is_a_permanent_error(settings):
    configure(settings, CHANNEL_BACKENDS={"sms": "http"}, HTTP_URLS={})
    with pytest.raises(DeliveryError) as error:
        backend_for("sms").send(message())
    assert (error.value.code, error.value.permanent) == ("http_not_configured", True)


def test_backends_are_chosen_per_channel(settings):
    configure(
        settings,
        BACKEND="file",
        CHANNEL_BACKENDS={"sms": "http", "push": "clinic.notifications.backends.ConsoleBackend"},
    )
    assert type(backend_for("email")) is FileBackend
    assert type(backend_for("sms")) is HttpBackend
    assert type(backend_for("push")) is ConsoleBackend


def test_defaults_when_nothing_is_configured(settings):
    settings.NOTIFICATIONS = {}
    config = notification_settings()
    assert config.backends == {"email": "file", "sms": "file", "push": "file"}
    assert config.file_path == str(settings.VAR_DIR / "outbox.jsonl")
    assert (config.max_attempts, config.backoff_seconds) == (5, 30)
    assert config.send_lease_seconds > 90  # longer than the send task's hard time limit
