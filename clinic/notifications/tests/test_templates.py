from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from clinic.errors import ValidationFailed
from clinic.notifications.discretion import indiscretions
from clinic.notifications.models import Reminder
from clinic.notifications.templates import TEMPLATES, clean_context, render, short_name

# The list, spelled out here so the test does not trust the module it checks.
FORBIDDEN = [
    "rehab",
    "detox",
    "addiction",
    "kratom",
    "withdrawal",
    "opioid",
    "alcohol",
    "substance",
    "treatment center",
]
FACILITY_NAMES = ["Demo Recovery Center", "Other Clinic"]
NOW = datetime(2026, 5, 11, 13, 0, tzinfo=UTC)


def all_values(kind: str) -> dict:
    template = TEMPLATES[kind]
    sample = {"at": (NOW + timedelta(days=1)).isoformat(), "provider": "R. Lee"}
    return {key: sample[key] for key in template.fields}


def test_every_kind_has_a_template():
    assert set(TEMPLATES) == set(Reminder.Kind.values)


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Pacific/Auckland"])
def test_no_template_reveals_treatment_or_names(kind, zone, facility, reachable_patient):
    subject, text = render(kind, clean_context(kind, all_values(kind)), zone=zone, now=NOW)
    rendered = f"{subject}\n{text}".lower()
    for word in FORBIDDEN + [name.lower() for name in FACILITY_NAMES]:
        assert word not in rendered, f"{kind}: {word!r} in {rendered!r}"
    for name in (reachable_patient.first_name, reachable_patient.last_name, reachable_patient.mrn):
        assert name.lower() not in rendered
    assert indiscretions(rendered, also=FACILITY_NAMES) == []
    # and the bare template texts, with no value filled in
    assert indiscretions(f"{TEMPLATES[kind].subject} {TEMPLATES[kind].text}", also=FACILITY_NAMES) == []


def test_the_discretion_check_catches_each_forbidden_word():
    for word in FORBIDDEN:
        assert indiscretions(f"Your {word.title()} appointment") != [], word
    assert indiscretions("Welcome to Demo Recovery Center", also=["Demo Recovery Center"])
    assert indiscretions("You have an appointment tomorrow at 10:00 with R. Lee.") == []


def test_the_appointment_text_reads_as_in_the_product_spec():
    context = clean_context("appointment", {"at": datetime(2026, 5, 12, 14, 0, tzinfo=UTC), "provider": "R. Lee"})
    _, text = render("appointment", context, zone="America/New_York", now=NOW)
    assert text == "You have an appointment tomorrow at 10:00 with R. Lee."


@pytest.mark.parametrize(
    ("at", "phrase"),
    [
        (datetime(2026, 5, 11, 18, 30, tzinfo=UTC), "today at 14:30"),
        (datetime(2026, 5, 12, 3, 30, tzinfo=UTC), "today at 23:30"),  # already the 12th in UTC, not locally
        (datetime(2026, 5, 13, 3, 30, tzinfo=UTC), "tomorrow at 23:30"),
        (datetime(2026, 5, 14, 13, 0, tzinfo=UTC), "on Thursday at 09:00"),
        (datetime(2026, 6, 1, 13, 0, tzinfo=UTC), "on 1 June at 09:00"),
    ],
)
def test_times_are_shown_in_the_recipients_zone(at, phrase):
    _, text = render("appointment", clean_context("appointment", {"at": at}), zone="America/New_York", now=NOW)
    assert text == f"You have an appointment {phrase}."


def test_nine_local_reads_nine_on_both_sides_of_a_dst_change():
    before = datetime(2026, 3, 7, 14, 0, tzinfo=UTC)  # 09:00 EST
    after = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # 09:00 EDT
    for at in (before, after):
        context = clean_context("appointment", {"at": at})
        _, text = render("appointment", context, zone="America/New_York", now=at - timedelta(hours=1))
        assert text == "You have an appointment today at 09:00."


def test_short_name():
    assert short_name("Robin", "Lee") == "R. Lee"
    assert short_name("", "Lee") == "Lee"


@pytest.mark.parametrize(
    ("kind", "context", "field"),
    [
        ("appointment", {}, "context.at"),
        ("appointment", {"at": "2026-05-12T10:00:00"}, "context.at"),  # naive
        ("appointment", {"at": "tomorrow"}, "context.at"),
        ("appointment", {"at": NOW, "patient_name": "Zebulon"}, "context.patient_name"),
        ("appointment", {"at": NOW, "provider": "Dr. Robin Lee, Addiction Medicine"}, "context.provider"),
        ("appointment", {"at": NOW, "provider": "R. Detox"}, "context.provider"),
        ("appointment", {"at": NOW, "provider": "Demo Recovery Center"}, "context.provider"),
        ("appointment", {"at": NOW, "provider": 42}, "context.provider"),
        ("check_in_prompt", {"at": NOW}, "context.at"),
    ],
)
def test_values_that_could_identify_or_reveal_are_refused(kind, context, field):
    with pytest.raises(ValidationFailed) as error:
        clean_context(kind, context, withheld=("Demo Recovery Center",))
    assert field in error.value.fields


def test_times_are_stored_as_utc():
    local = datetime(2026, 5, 12, 10, 0, tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    assert clean_context("appointment", {"at": local}) == {"at": "2026-05-12T10:00:00+00:00"}
