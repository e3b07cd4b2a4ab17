"""Run in separate processes by test_backends: many writers appending the same keys to one outbox file."""

from clinic.notifications.backends import FileBackend, Message


def write_keys(config, keys: list[str]) -> int:
    backend = FileBackend(config)
    written = 0
    for key in keys:
        if not backend.send(Message(key, key, "sms", "+16175550123", "Reminder", "text")).duplicate:
            written += 1
    return written
