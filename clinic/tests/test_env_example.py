""".env.example documents every variable the settings read, one per line with comments on their own lines
(django-environ reads a .env line whole, so an inline comment would become part of the value)."""

import re
from pathlib import Path

from django.conf import settings

SETTINGS = Path(settings.BASE_DIR) / "clinic" / "settings"
EXAMPLE = Path(settings.BASE_DIR) / ".env.example"
CHANNELS = {"email", "sms", "push"}


def _read_by_settings() -> set[str]:
    names = set()
    for module in SETTINGS.glob("*.py"):
        text = module.read_text()
        names |= set(re.findall(r'env\.\w+\(\s*"([A-Z0-9_]+)"', text))
        for prefix, suffix in re.findall(r'env\.\w+\(\s*f"([A-Z_]*)\{channel\.upper\(\)\}([A-Z_]*)"', text):
            names |= {f"{prefix}{channel.upper()}{suffix}" for channel in CHANNELS}
    return names


def _documented() -> dict[str, str]:
    lines = EXAMPLE.read_text().splitlines()
    return dict(
        re.match(r"^#? ?([A-Z0-9_]+)=(.*)$", line).groups() for line in lines if re.match(r"^#? ?[A-Z0-9_]+=", line)
    )


def test_every_variable_the_settings_read_is_documented():
    missing = _read_by_settings() - set(_documented()) - {"NOTIFICATIONS_HTTP_EMAIL_URL"}
    assert missing == set()


def test_no_value_carries_an_inline_comment_or_trailing_space():
    assert [name for name, value in _documented().items() if "#" in value or value != value.strip()] == []
