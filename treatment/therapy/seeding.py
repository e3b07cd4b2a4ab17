"""Demo therapy: a treatment plan for each demo patient in therapy or aftercare, a past attended session with a
signed DAP note and a scheduled one to come, a held group yesterday with its signed group note, and a group
tomorrow with a roster (the patient login `patient` is on it, so the app shows the appointment).

Everything goes through the services, so the demo obeys the same rules as real data. Idempotent: a plan,
a patient's sessions or a group (by title) that already exists is left alone. A booking the demo calendar
cannot take (double-booked by data added by hand) is skipped and reported."""

from __future__ import annotations

import datetime
import zoneinfo
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.accounts.seeding import DEMO_FACILITY
from clinic.errors import Conflict
from treatment.models import Episode

from . import services
from .models import GroupSession, Modality, TherapySession, TreatmentPlan

IN_THERAPY_OR_LATER = ("Dawson", "Avery")

PLAN = {
    "problems": [
        {
            "description": "Daily kratom use to manage back pain and low mood; two failed attempts to stop alone.",
            "goals": [
                {
                    "statement": "Stay free of kratom and alcohol.",
                    "measure": "Self-report at each session and weekly urine drug screens negative for mitragynine.",
                    "weeks": 12,
                    "objectives": [
                        ("Name three personal triggers and a coping strategy for each.", 2),
                        ("Use a coping strategy at every craving above 6 for two weeks running.", 6),
                        ("Attend a mutual-help meeting (SMART Recovery) every week.", 8),
                    ],
                }
            ],
        },
        {
            "description": "Poor sleep since stopping; used to drink to fall asleep.",
            "goals": [
                {
                    "statement": "Sleep six hours a night without alcohol or sedatives.",
                    "measure": "Sleep diary reviewed fortnightly.",
                    "weeks": 8,
                    "objectives": [("Keep a sleep diary and a fixed wake time.", 2)],
                }
            ],
        },
    ],
    "interventions": [
        {"kind": Modality.CBT, "description": "Thought records and behavioural experiments.", "frequency": "weekly"},
        {"kind": Modality.MOTIVATIONAL_INTERVIEWING, "frequency": "at each session"},
        {"kind": Modality.RELAPSE_PREVENTION, "description": "Relapse prevention group.", "frequency": "weekly"},
    ],
}

SESSION_NOTE = {
    "data": "Reported two cravings this week (6/10 and 7/10), both after work; used urge surfing and called her "
    "sister. No use since the last session.",
    "assessment": "Engaged and motivated; coping skills are taking hold. Sleep still poor.",
    "plan": "Continue weekly CBT; start a sleep diary; review triggers list next session.",
}
GROUP_SUMMARY = (
    "Topic: high-risk situations. The group mapped personal triggers, practised refusal skills in pairs and "
    "wrote a one-line plan for the coming weekend."
)
GROUP_PARTS = {
    "Dawson": ("active", "Named after-work stress as her main trigger; role-played a refusal.", "Good insight."),
    "Avery": ("moderate", "Spoke about a family party coming up; planned to leave early.", "Some ambivalence."),
}


def _local(zone: zoneinfo.ZoneInfo, days: int, hour: int, minute: int = 0) -> datetime.datetime:
    day = timezone.now().astimezone(zone).date() + timedelta(days=days)
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=zone)


def _plan(episode: Episode, counselor: User) -> None:
    today = timezone.localdate()
    problems = [
        {
            "description": problem["description"],
            "goals": [
                {
                    "statement": goal["statement"],
                    "measure": goal["measure"],
                    "target_date": today + timedelta(weeks=goal["weeks"]),
                    "objectives": [
                        {"description": text, "target_date": today + timedelta(weeks=weeks)}
                        for text, weeks in goal["objectives"]
                    ],
                }
                for goal in problem["goals"]
            ],
        }
        for problem in PLAN["problems"]
    ]
    services.treatment_plan_create(
        actor=counselor, episode=episode, problems=problems, interventions=PLAN["interventions"]
    )


def _sessions(episode: Episode, counselor: User, desk: User, zone: zoneinfo.ZoneInfo) -> None:
    past = services.session_schedule(
        actor=desk,
        episode=episode,
        counselor=counselor,
        starts_at=_local(zone, -1, 10),
        ends_at=_local(zone, -1, 10, 50),
        modality=Modality.CBT,
        location="Counseling room 2",
    )
    services.session_record_attendance(actor=desk, session=past, status="attended")
    note = services.progress_note_create(actor=counselor, session=past, format="dap", **SESSION_NOTE)
    services.progress_note_sign(actor=counselor, note=note)
    services.session_schedule(
        actor=desk,
        episode=episode,
        counselor=counselor,
        starts_at=_local(zone, 2, 10),
        ends_at=_local(zone, 2, 10, 50),
        modality=Modality.CBT,
        telehealth_url="https://telehealth.example.org/demo-room",
    )


def _group(demo: Facility, title: str, starts: datetime.datetime, counselor: User, desk: User) -> GroupSession:
    return services.group_session_schedule(
        actor=desk,
        facility=demo,
        title=title,
        modality=Modality.RELAPSE_PREVENTION,
        facilitator=counselor,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=90),
        capacity=8,
        location="Group room",
    )


def _held_group(demo, episodes: dict[str, Episode], counselor, desk, zone) -> None:
    group = _group(demo, "Coping skills group", _local(zone, -1, 14), counselor, desk)
    for episode in episodes.values():
        services.group_roster_add(actor=desk, group=group, patient=episode.patient)
    services.group_attendance_record(
        actor=counselor, group=group, attendance={episode.patient_id: "attended" for episode in episodes.values()}
    )
    parts = [
        {"patient": episodes[name].patient_id, "participation": part[0], "data": part[1], "assessment": part[2],
         "plan": "Continue weekly group."}
        for name, part in GROUP_PARTS.items()
        if name in episodes
    ]  # fmt: skip
    note = services.group_note_write(actor=counselor, group=group, format="dap", summary=GROUP_SUMMARY, parts=parts)
    services.group_note_sign(actor=counselor, note=note)


def _upcoming_group(demo, episodes: dict[str, Episode], counselor, desk, zone) -> None:
    group = _group(demo, "Relapse prevention group", _local(zone, 1, 16), counselor, desk)
    for episode in episodes.values():
        services.group_roster_add(actor=desk, group=group, patient=episode.patient)


def seed(*, stdout) -> None:
    demo = Facility.objects.get(name=DEMO_FACILITY)
    zone = zoneinfo.ZoneInfo(demo.timezone)
    counselor = User.objects.get(username="counselor")
    desk = User.objects.get(username="frontdesk")
    episodes = {
        name: episode
        for name in IN_THERAPY_OR_LATER
        if (
            episode := Episode.objects.filter(
                patient__facility=demo, patient__last_name=name, closed_at__isnull=True
            ).first()
        )
    }
    done, skipped = [], []
    steps = [
        *(
            (f"plan {name}", lambda e=episode: _plan(e, counselor), TreatmentPlan.objects.filter(episode=episode))
            for name, episode in episodes.items()
        ),
        *(
            (
                f"sessions {name}",
                lambda e=episode: _sessions(e, counselor, desk, zone),
                TherapySession.objects.filter(episode=episode),
            )
            for name, episode in episodes.items()
            if name == "Dawson"
        ),
        (
            "held group",
            lambda: _held_group(demo, episodes, counselor, desk, zone),
            GroupSession.objects.filter(facility=demo, title="Coping skills group"),
        ),
        (
            "upcoming group",
            lambda: _upcoming_group(demo, episodes, counselor, desk, zone),
            GroupSession.objects.filter(facility=demo, title="Relapse prevention group"),
        ),
    ]
    for label, step, existing in steps:
        if existing.exists() or not episodes:
            continue
        try:
            with transaction.atomic():  # a step the calendar refuses leaves nothing behind
                step()
        except Conflict as error:
            skipped.append(f"{label} ({error.code})")
        else:
            done.append(label)
    summary = f"Therapy: {len(done)} new ({', '.join(done) or 'all present'})"
    stdout.write(summary + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
