"""The engine's settings, read at call time so tests can override them (see clinic/settings/base.py)."""

from dataclasses import dataclass

from django.conf import settings

CHANNELS = ("email", "sms", "push")

BACKEND_ALIASES = {
    "console": "clinic.notifications.backends.ConsoleBackend",
    "file": "clinic.notifications.backends.FileBackend",
    "django_email": "clinic.notifications.backends.DjangoEmailBackend",
    "http": "clinic.notifications.backends.HttpBackend",
}


@dataclass(frozen=True)
class NotificationSettings:
    backends: dict  # channel -> backend alias or dotted path
    file_path: str
    http_urls: dict  # channel -> URL of the HTTP gateway
    http_token: str
    http_timeout: float
    from_email: str
    max_attempts: int
    backoff_seconds: int
    claim_lease_seconds: int
    send_lease_seconds: int
    batch_size: int  # reminders claimed per dispatcher transaction
    send_chunk_size: int  # claimed reminders per send task
    dispatch_seconds: float  # a dispatcher run stops claiming new batches after this long


def notification_settings() -> NotificationSettings:
    raw = getattr(settings, "NOTIFICATIONS", {})
    backend = raw.get("BACKEND", "file")
    return NotificationSettings(
        backends={channel: raw.get("CHANNEL_BACKENDS", {}).get(channel) or backend for channel in CHANNELS},
        file_path=str(raw.get("FILE_PATH", settings.VAR_DIR / "outbox.jsonl")),
        http_urls=dict(raw.get("HTTP_URLS", {})),
        http_token=raw.get("HTTP_TOKEN", ""),
        http_timeout=float(raw.get("HTTP_TIMEOUT", 10)),
        from_email=raw.get("FROM_EMAIL") or settings.DEFAULT_FROM_EMAIL,
        max_attempts=int(raw.get("MAX_ATTEMPTS", 5)),
        backoff_seconds=int(raw.get("BACKOFF_SECONDS", 30)),
        claim_lease_seconds=int(raw.get("CLAIM_LEASE_SECONDS", 600)),
        send_lease_seconds=int(raw.get("SEND_LEASE_SECONDS", 120)),
        batch_size=int(raw.get("BATCH_SIZE", 500)),
        send_chunk_size=max(1, int(raw.get("SEND_CHUNK_SIZE", 100))),
        dispatch_seconds=float(raw.get("DISPATCH_SECONDS", 30)),
    )
