"""The text of each kind of reminder, rendered in the recipient's time zone.

Texts are fixed per kind; the only values put into them are a time and a provider's short name ("R. Lee").
The renderer never sees the patient, so no name, diagnosis or facility can reach a message; the values are
also checked at scheduling against clinic.notifications.discretion. A test renders every template and checks
it against the forbidden list.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.utils.dateparse import parse_datetime

from clinic.errors import ValidationFailed

from .discretion import indiscretions

SHORT_NAME = re.compile(r"^[^\W\d_][\w.' -]{0,39}$")


@dataclass(frozen=True)
class ReminderTemplate:
    subject: str
    text: str  # str.format fields: {when} ("tomorrow at 10:00"), {day} ("tomorrow"), {with_provider}
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    # True when a message after `at` makes no sense ("You have an appointment today at 10:00" at 11:00).
    expires_at_start: bool = False

    @property
    def fields(self) -> frozenset[str]:
        return self.required | self.optional


TEMPLATES: dict[str, ReminderTemplate] = {
    # To patients
    "appointment": ReminderTemplate(
        subject="Appointment reminder",
        text="You have an appointment {when}{with_provider}.",
        required=frozenset({"at"}),
        optional=frozenset({"provider"}),
        expires_at_start=True,
    ),
    "check_in_prompt": ReminderTemplate(
        subject="A quick check-in", text="How are you doing today? Open the app to check in."
    ),
    "medication_refill": ReminderTemplate(
        subject="Refill reminder",
        text="Your prescription refill is due {day}. Contact us if you need help.",
        required=frozenset({"at"}),
    ),
    # To staff
    "check_in_due": ReminderTemplate(
        subject="Follow-up due",
        text="A follow-up check-in is due {when}{with_provider}. Details are in the app.",
        required=frozenset({"at"}),
        optional=frozenset({"provider"}),
    ),
    "plan_review_due": ReminderTemplate(
        subject="Plan review due",
        text="A plan review is due {day}. Details are in the app.",
        required=frozenset({"at"}),
    ),
    "observation_round_due": ReminderTemplate(
        subject="Round due",
        text="An observation round is due {when}. Details are in the app.",
        required=frozenset({"at"}),
    ),
    "note_unsigned": ReminderTemplate(subject="Note to sign", text="A note is waiting for your signature in the app."),
    # What the alert is about stays in the app: its reason names an instrument, a score or a round.
    "alert": ReminderTemplate(
        subject="New alert", text="A new alert needs your attention. Open the clinic app to see it."
    ),
    "generic": ReminderTemplate(subject="Reminder", text="You have a new task. Details are in the app."),
}


def short_name(first_name: str, last_name: str) -> str:
    """A provider's name as reminders show it: "R. Lee"."""
    first = first_name.strip()
    return f"{first[0]}. {last_name.strip()}" if first else last_name.strip()


def clean_context(kind: str, context: dict | None, *, withheld: tuple[str, ...] = ()) -> dict:
    """Check and normalise template values at scheduling: known keys only, aware times stored as UTC ISO 8601,
    short names only, and nothing from the forbidden list or `withheld` (e.g. the facility's name)."""
    template = TEMPLATES[kind]
    context = dict(context or {})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(context) - template.fields):
        errors[f"context.{key}"] = ["Not a value this reminder's text uses."]
    for key in sorted(template.required - set(context)):
        errors[f"context.{key}"] = ["This field is required."]
    cleaned: dict[str, str] = {}
    for key, value in context.items():
        if key not in template.fields:
            continue
        if key == "at":
            moment = parse_datetime(value) if isinstance(value, str) else value
            if not isinstance(moment, datetime) or moment.tzinfo is None:
                errors["context.at"] = ["An aware date and time is required."]
                continue
            cleaned[key] = moment.astimezone(UTC).isoformat()
        elif key == "provider":
            if not isinstance(value, str) or not SHORT_NAME.match(value.strip()):
                errors["context.provider"] = ['A short name such as "R. Lee" (at most 40 characters).']
                continue
            cleaned[key] = value.strip()
    for key, value in cleaned.items():
        if key != "at" and indiscretions(value, also=withheld):
            errors[f"context.{key}"] = ["This would reveal too much in a message."]
    if errors:
        raise ValidationFailed("The reminder's values are not valid.", fields=errors)
    return cleaned


def has_expired(kind: str, context: dict, now: datetime) -> bool:
    """True when the reminder is about something that has already begun, so sending it would mislead."""
    return TEMPLATES[kind].expires_at_start and "at" in context and parse_datetime(context["at"]) <= now


def _day_phrase(moment: datetime, now: datetime) -> str:
    days = (moment.date() - now.date()).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if 1 < days < 7:
        return f"on {moment:%A}"
    return f"on {moment.day} {moment:%B}"


def render(kind: str, context: dict, *, zone: str, now: datetime) -> tuple[str, str]:
    """(subject, text) of a reminder as the recipient reads it at `now`, times shown in `zone`."""
    template = TEMPLATES[kind]
    tz = ZoneInfo(zone)
    local_now = now.astimezone(tz)
    values = {"when": "", "day": "", "with_provider": ""}
    if "at" in context:
        moment = parse_datetime(context["at"]).astimezone(tz)
        values["day"] = _day_phrase(moment, local_now)
        values["when"] = f"{values['day']} at {moment:%H:%M}"
    if context.get("provider"):
        values["with_provider"] = f" with {context['provider']}"
    return template.subject, template.text.format(**values)
