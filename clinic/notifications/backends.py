"""Delivery backends: one interface, `send(message) -> DeliveryResult` and `send_many(messages)`, chosen per
channel in settings.

Every message carries the reminder's idempotency key. A backend that honours it (file, HTTP gateways that
support the Idempotency-Key header) never delivers the same key twice, so a send retried after a crash
between delivery and recording cannot produce a duplicate. SMTP cannot refuse a duplicate; the key becomes
the Message-ID so mail clients and archives fold duplicates together.
"""

import fcntl
import json
import os
import smtplib
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

from .conf import BACKEND_ALIASES, NotificationSettings, notification_settings


@dataclass(frozen=True)
class Message:
    reminder_id: str
    idempotency_key: str
    channel: str
    to: str
    subject: str
    text: str


@dataclass(frozen=True)
class DeliveryResult:
    provider_id: str = ""
    duplicate: bool = False  # the backend had already delivered this idempotency key


class DeliveryError(Exception):
    """A failed delivery. `code` is stored on the reminder: short, and never patient data.
    `permanent` errors (a refused address, a misconfigured gateway) are not retried."""

    def __init__(self, code: str, *, permanent: bool = False):
        super().__init__(code)
        self.code = code[:64]
        self.permanent = permanent


class NotificationBackend:
    def __init__(self, config: NotificationSettings):
        self.config = config

    def send(self, message: Message) -> DeliveryResult:
        raise NotImplementedError

    def send_many(
        self, messages: Sequence[Message], *, deadline: float | None = None
    ) -> list[DeliveryResult | Exception | None]:
        """Send each message. One outcome per message, in order: its DeliveryResult; the exception its send
        raised (a DeliveryError, or any other for a crash), so that one bad message does not stop the others;
        or None when it was not tried because `deadline` (a time.monotonic() value) had passed.

        This default sends them one by one; a backend that can send many at once overrides it.
        """
        outcomes: list[DeliveryResult | Exception | None] = []
        for message in messages:
            if deadline is not None and time.monotonic() >= deadline:
                outcomes.append(None)
                continue
            try:
                outcomes.append(self.send(message))
            except Exception as error:  # noqa: BLE001 - handed back as this message's outcome
                outcomes.append(error)
        return outcomes


class ConsoleBackend(NotificationBackend):
    """Development only: prints each message (not its address) to standard output. It does not honour
    idempotency keys."""

    def send(self, message: Message) -> DeliveryResult:
        sys.stdout.write(
            f"--- {message.channel} message for reminder {message.reminder_id} (key {message.idempotency_key})\n"
            f"{message.subject}\n{message.text}\n"
        )
        sys.stdout.flush()
        return DeliveryResult()


@dataclass
class _OutboxIndex:
    inode: int | None = None
    offset: int = 0
    keys: set | None = None


class FileBackend(NotificationBackend):
    """One JSON line per delivered message (development and tests), at most one line per idempotency key.

    Writers on any number of processes and threads take an exclusive lock on `<path>.lock`, bring their
    in-memory index of written keys up to date by reading only the lines added since they last looked, and
    append the lines whose keys are new in a single write (`send_many` does it for all its messages at once).
    """

    _indexes: dict[str, _OutboxIndex] = {}
    _indexes_guard = threading.Lock()

    def __init__(self, config: NotificationSettings):
        super().__init__(config)
        self.path = Path(config.file_path)

    def send(self, message: Message) -> DeliveryResult:
        return self._append([message])[0]

    def send_many(
        self, messages: Sequence[Message], *, deadline: float | None = None
    ) -> list[DeliveryResult | Exception | None]:
        """All the messages under one lock and in one write (it takes no time, so the deadline does not apply)."""
        if type(self).send is not FileBackend.send:
            # A subclass that changes what sending one message does must have it done for each message.
            return super().send_many(messages, deadline=deadline)
        if not messages:
            return []
        try:
            return self._append(messages)
        except OSError as error:
            return [error] * len(messages)

    def _append(self, messages: Sequence[Message]) -> list[DeliveryResult]:
        """Append a line for each message whose key is not in the file yet; the others are duplicates."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = self._caught_up_index()
            delivered_at = datetime.now(UTC).isoformat()
            results, lines, new_keys = [], [], set()
            for message in messages:
                if message.idempotency_key in index.keys or message.idempotency_key in new_keys:
                    results.append(DeliveryResult(duplicate=True))
                    continue
                record = {**asdict(message), "delivered_at": delivered_at}
                lines.append(json.dumps(record, sort_keys=True) + "\n")
                new_keys.add(message.idempotency_key)
                results.append(DeliveryResult())
            if lines:
                data = "".join(lines).encode()
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    remaining = memoryview(data)
                    while remaining:
                        remaining = remaining[os.write(descriptor, remaining) :]
                    index.inode = os.fstat(descriptor).st_ino
                finally:
                    os.close(descriptor)
                index.keys.update(new_keys)
                index.offset += len(data)
        return results

    def _caught_up_index(self) -> _OutboxIndex:
        """The keys already in the file (call with the lock held)."""
        with self._indexes_guard:
            index = self._indexes.setdefault(str(self.path), _OutboxIndex())
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            index.inode, index.offset, index.keys = None, 0, set()
            return index
        if index.keys is None or index.inode != stat.st_ino or stat.st_size < index.offset:
            index.inode, index.offset, index.keys = stat.st_ino, 0, set()
        if stat.st_size > index.offset:
            with open(self.path, "rb") as outbox:
                outbox.seek(index.offset)
                chunk = outbox.read(stat.st_size - index.offset)
            complete = chunk[: chunk.rfind(b"\n") + 1]
            for raw in complete.splitlines():
                try:
                    index.keys.add(json.loads(raw)["idempotency_key"])
                except (ValueError, KeyError):
                    continue
            index.offset += len(complete)
        return index


class DjangoEmailBackend(NotificationBackend):
    """Email through Django's EMAIL_BACKEND (SMTP in production)."""

    def send(self, message: Message) -> DeliveryResult:
        if message.channel != "email":
            raise DeliveryError("channel_unsupported", permanent=True)
        domain = self.config.from_email.rpartition("@")[2] or "localhost"
        email = EmailMessage(
            subject=message.subject,
            body=message.text,
            from_email=self.config.from_email,
            to=[message.to],
            headers={
                "Message-ID": f"<{message.idempotency_key}@{domain}>",
                "X-Idempotency-Key": message.idempotency_key,
            },
        )
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError("smtp_recipient_refused", permanent=True) from error
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"smtp_{type(error).__name__}") from error
        return DeliveryResult(provider_id=email.extra_headers["Message-ID"])


class HttpBackend(NotificationBackend):
    """An SMS or push gateway over HTTP: POST JSON to the channel's URL with an Idempotency-Key header.

    The gateway is expected to answer 2xx both for a new key and for a key it has already accepted. 408, 409
    (the same key still in flight), 429 and 5xx are retried; any other 4xx is permanent.
    """

    RETRIED_STATUSES = frozenset({408, 409, 425, 429})

    def send(self, message: Message) -> DeliveryResult:
        url = self.config.http_urls.get(message.channel, "")
        if not url.startswith(("https://", "http://")):
            raise DeliveryError("http_not_configured", permanent=True)
        body = json.dumps(
            {"channel": message.channel, "to": message.to, "subject": message.subject, "text": message.text}
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key}
        if self.config.http_token:
            headers["Authorization"] = f"Bearer {self.config.http_token}"
        # The scheme is checked above; the URL comes from settings, never from a request.
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.config.http_timeout) as response:  # noqa: S310
                payload = response.read(65536)
        except urllib.error.HTTPError as error:
            permanent = 400 <= error.code < 500 and error.code not in self.RETRIED_STATUSES
            raise DeliveryError(f"http_{error.code}", permanent=permanent) from error
        except TimeoutError as error:
            raise DeliveryError("http_timeout") from error
        except (urllib.error.URLError, OSError) as error:
            timed_out = isinstance(getattr(error, "reason", None), TimeoutError)
            raise DeliveryError("http_timeout" if timed_out else "http_unreachable") from error
        try:
            provider_id = str(json.loads(payload or b"{}").get("id", ""))[:200]
        except (ValueError, AttributeError):
            provider_id = ""
        return DeliveryResult(provider_id=provider_id)


def backend_for(channel: str, config: NotificationSettings | None = None) -> NotificationBackend:
    config = config or notification_settings()
    name = config.backends[channel]
    return import_string(BACKEND_ALIASES.get(name, name))(config)
