"""The shapes of a relapse-prevention plan's lists, checked and normalised in one place (API and admin alike).

Problems are returned keyed by dotted path ("support_groups.0.kind") so the error envelope names the entry.
"""

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from django.core.exceptions import ValidationError

from patients.models import normalise_phone

MAX_ENTRIES = 30
MAX_TEXT = 500
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MEETING_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class SupportGroupKind:
    """Kinds of mutual-help group a plan lists (codes and labels)."""

    CHOICES = {
        "na": "Narcotics Anonymous",
        "aa": "Alcoholics Anonymous",
        "smart_recovery": "SMART Recovery",
        "kratom_specific": "Kratom-specific group",
        "other": "Other",
    }


Problems = dict[str, list[str]]
Cleaner = Callable[[Any, str, Problems], Any]


def _text(value: Any, path: str, problems: Problems, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems[path] = ["Expected text."]
        return ""
    value = value.strip()
    if required and not value:
        problems[path] = ["This field is required."]
    elif len(value) > limit:
        problems[path] = [f"At most {limit} characters."]
    return value


def _list(name: str, value: Any, problems: Problems, clean_entry: Cleaner) -> list:
    if not isinstance(value, list):
        problems[name] = ["Expected a list."]
        return []
    if len(value) > MAX_ENTRIES:
        problems[name] = [f"At most {MAX_ENTRIES} entries."]
        return []
    return [clean_entry(entry, f"{name}.{index}", problems) for index, entry in enumerate(value)]


def _object(entry: Any, path: str, problems: Problems, allowed: set[str]) -> dict | None:
    if not isinstance(entry, dict):
        problems[path] = ["Expected an object."]
        return None
    for key in sorted(set(entry) - allowed):
        problems[f"{path}.{key}"] = ["Unknown field."]
    return entry


def _clean_step(entry: Any, path: str, problems: Problems) -> str:
    return _text(entry, path, problems)


CONTACT_FIELDS = {"name", "relationship", "phone", "note"}


def _clean_contact(entry: Any, path: str, problems: Problems) -> dict:
    entry = _object(entry, path, problems, CONTACT_FIELDS)
    if entry is None:
        return {}
    cleaned = {
        "name": _text(entry.get("name"), f"{path}.name", problems, limit=200),
        "relationship": _text(entry.get("relationship"), f"{path}.relationship", problems, required=False, limit=100),
        "phone": _text(entry.get("phone"), f"{path}.phone", problems, limit=40),
        "note": _text(entry.get("note"), f"{path}.note", problems, required=False),
    }
    if cleaned["phone"] and f"{path}.phone" not in problems:
        try:
            cleaned["phone"] = normalise_phone(cleaned["phone"])
        except ValidationError as error:
            problems[f"{path}.phone"] = error.messages
    return cleaned


GROUP_FIELDS = {"name", "kind", "day", "time", "place", "link"}


def _clean_group(entry: Any, path: str, problems: Problems) -> dict:
    entry = _object(entry, path, problems, GROUP_FIELDS)
    if entry is None:
        return {}
    cleaned = {
        "name": _text(entry.get("name"), f"{path}.name", problems, limit=200),
        "kind": entry.get("kind"),
        "day": _text(entry.get("day"), f"{path}.day", problems, required=False, limit=16).lower(),
        "time": _text(entry.get("time"), f"{path}.time", problems, required=False, limit=5),
        "place": _text(entry.get("place"), f"{path}.place", problems, required=False, limit=300),
        "link": _text(entry.get("link"), f"{path}.link", problems, required=False, limit=500),
    }
    if cleaned["kind"] not in SupportGroupKind.CHOICES:
        problems[f"{path}.kind"] = [f"Choose one of {', '.join(SupportGroupKind.CHOICES)}."]
    if cleaned["day"] and cleaned["day"] not in WEEKDAYS:
        problems[f"{path}.day"] = ["A day of the week, e.g. tuesday."]
    if cleaned["time"] and not MEETING_TIME.match(cleaned["time"]):
        problems[f"{path}.time"] = ["A time as HH:MM, e.g. 19:30."]
    if cleaned["link"] and urlparse(cleaned["link"]).scheme not in ("http", "https"):
        problems[f"{path}.link"] = ["An http or https address."]
    if not cleaned["place"] and not cleaned["link"]:
        problems.setdefault(f"{path}.place", ["Give the meeting place or a link to join."])
    return cleaned


CLEANERS: dict[str, Cleaner] = {
    "craving_action_plan": _clean_step,
    "support_contacts": _clean_contact,
    "support_groups": _clean_group,
    "reasons_for_recovery": _clean_step,
}


def clean_plan_lists(data: dict[str, Any]) -> tuple[dict[str, Any], Problems]:
    """Normalised values of the plan's list fields present in `data`, and the problems found."""
    problems: Problems = {}
    cleaned = {name: _list(name, data[name], problems, clean) for name, clean in CLEANERS.items() if name in data}
    return cleaned, problems


def clean_check_in_triggers(value: Any) -> tuple[list[str], Problems]:
    problems: Problems = {}
    triggers = _list("triggers", value, problems, lambda entry, path, found: _text(entry, path, found, limit=100))
    return triggers, problems
