"""Demo aftercare: patients weeks into aftercare with their relapse-prevention plans, follow-up check-ins (some
completed, one missed), weeks of daily check-ins with realistic values (and the alerts they raised), a relapse,
and a relapse that led to a readmission.

- Jordan Avery (the `patient` login): treatment's seeding leaves him at the end of therapy; this writes his plan
  and moves him into aftercare, 22 days ago.
- Jamie Farrow (login `jamie.farrow`): 40 days into aftercare; the 7-day follow-up was completed late, the
  30-day one was missed (the case manager is alerted); a relapse on day 33, recorded with what helped.
- Devon Garcia (login `devon.garcia`): 60 days after entering aftercare, a relapse on opioids led to a
  readmission today: the old episode is discharged, the new one waits in assessment.

Everything is written through the services. They stamp "now" on what happened today, so to show weeks of
history each demo episode's timeline (when it opened, its transitions, its scores and decision) is moved back
before its aftercare records are written with their own dates: the services take the aftercare start
(`relapse_prevention_plan_update`), when a follow-up took place and when a check-in was made.
Idempotent: a patient whose episodes already have a plan is left alone.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.accounts.roles import Role
from clinic.accounts.seeding import DEMO_FACILITY, ensure_login
from patients import services as patient_services
from patients.models import CommunicationConsent, Patient, SubstanceUseHistory
from treatment import services as treatment_services
from treatment.models import Assessment, Episode, EpisodeTransition, Observation, Setting, Stage
from treatment.seeding import DSM5, GAD7, HOME, PHQ9

from . import services
from .models import ProviderCheckIn, RelapsePreventionPlan
from .plan_content import SupportGroupKind

DAY = datetime.timedelta(days=1)


@dataclass
class CheckInDay:
    craving: int
    mood: int
    used: bool = False
    triggers: tuple[str, ...] = ()
    note: str = ""


@dataclass
class FollowUp:
    """How a follow-up went: days after it was due that it took place, its outcome and note."""

    late_by: datetime.timedelta
    outcome: str
    note: str


@dataclass
class RelapseStory:
    day: int
    substance: str
    context: str
    what_helped: str
    readmit_reason: str = ""


@dataclass
class AftercareStory:
    days_in_aftercare: int
    plan: dict
    triggers: list[dict]
    patient_triggers: list[dict] = field(default_factory=list)
    skipped_days: frozenset[int] = frozenset()
    check_in_overrides: dict[int, CheckInDay] = field(default_factory=dict)
    last_check_in_day: int | None = None  # default: yesterday
    follow_ups: dict[int, FollowUp] = field(default_factory=dict)  # offset -> how it went; absent and due: missed
    relapse: RelapseStory | None = None


def _trigger(category: str, description: str, *strategies: str) -> dict:
    return {"category": category, "description": description, "coping_strategies": list(strategies)}


def _group(name: str, kind: str, day: str, time: str, *, place: str = "", link: str = "") -> dict:
    assert kind in SupportGroupKind.CHOICES
    return {"name": name, "kind": kind, "day": day, "time": time, "place": place, "link": link}


CRAVING_ACTION_PLAN = [
    "Call a support person before doing anything else.",
    "Do something sober for 15 minutes: walk, shower, make tea.",
    "Delay the decision 10-15 minutes, then rate the craving again.",
    "Still above 7? Call the clinic line or go to a meeting tonight.",
]

STORIES = {
    "Avery": AftercareStory(
        days_in_aftercare=22,
        plan={
            "craving_action_plan": [
                "Call Chris (sponsor) or Dana before doing anything else.",
                *CRAVING_ACTION_PLAN[1:],
            ],
            "support_contacts": [
                {"name": "Chris Patel", "relationship": "Sponsor", "phone": "+16175550112", "note": "Any time."},
                {"name": "Dana Avery", "relationship": "Spouse", "phone": "+16175550111", "note": ""},
            ],
            "support_groups": [
                _group(
                    "SMART Recovery online",
                    "smart_recovery",
                    "tuesday",
                    "19:00",
                    link="https://meetings.smartrecovery.org/",
                ),
                _group("Tuesday Night NA", "na", "thursday", "19:30", place="St. Mark's church hall, 12 Elm St"),
                _group(
                    "Quitting Kratom peer circle",
                    "kratom_specific",
                    "sunday",
                    "18:00",
                    link="https://example.org/kratom-peer-circle",
                ),
            ],  # fmt: skip
            "reasons_for_recovery": [
                "Be there, clear-headed, when my daughter starts school.",
                "Wake up without feeling sick.",
                "Put the money back into our savings.",
            ],
            "check_in_prompt_time": datetime.time(19, 30),
        },
        triggers=[
            _trigger("stress", "Deadline weeks at work.", "Ten-minute walk at lunch.", "Text Chris before 5 pm."),
            _trigger("people", "Friends who drink after work on Fridays.", "Leave by 6 pm.", "Suggest coffee instead."),
            _trigger("places", "The smoke shop on my commute.", "Take the Elm St route home."),
            _trigger(
                "negative_emotions",
                "Back pain flares and the frustration with them.",
                "Physiotherapy stretches.",
                "Heat pad and ibuprofen as prescribed.",
            ),
        ],  # fmt: skip
        patient_triggers=[_trigger("other", "Sunday evenings alone.", "Call my sister.", "Plan Monday's lunch.")],
        skipped_days=frozenset({9, 10}),  # two missed days in a row: the counselor was alerted
        check_in_overrides={
            15: CheckInDay(8, 4, triggers=("deadline at work", "back pain"), note="Rough day. Called Chris."),
        },
        follow_ups={
            7: FollowUp(
                datetime.timedelta(hours=3),
                ProviderCheckIn.Outcome.STABLE,
                "Phone call. Sleeping better, attended SMART twice, back pain managed with PT.",
            ),
        },  # fmt: skip
    ),
    "Farrow": AftercareStory(
        days_in_aftercare=40,
        plan={
            "craving_action_plan": CRAVING_ACTION_PLAN,
            "support_contacts": [{"name": "Mel Farrow", "relationship": "Sister", "phone": "+16175550161"}],
            "support_groups": [
                _group(
                    "SMART Recovery, Riverside library",
                    "smart_recovery",
                    "monday",
                    "18:30",
                    place="Riverside library, room 2",
                ),
                _group(
                    "Kratom recovery forum meeting",
                    "kratom_specific",
                    "wednesday",
                    "20:00",
                    link="https://example.org/kratom-recovery-meeting",
                ),
            ],  # fmt: skip
            "reasons_for_recovery": ["Keep my nursing licence.", "Run the half marathon in the spring."],
            "check_in_prompt_time": datetime.time(8, 30),
        },
        triggers=[
            _trigger("stress", "Night shifts back to back.", "Nap before the drive home.", "No shift swaps."),
            _trigger("social_settings", "Weddings and parties.", "Arrive late, leave early.", "Bring my sister."),
        ],
        skipped_days=frozenset({5, 12, 20, 27}),
        check_in_overrides={
            32: CheckInDay(7, 4, triggers=("wedding this weekend",)),
            33: CheckInDay(9, 2, used=True, triggers=("wedding", "old friends"), note="I used at the wedding."),
            34: CheckInDay(6, 4, note="Told my sister. Going to SMART on Monday."),
        },
        follow_ups={
            7: FollowUp(
                datetime.timedelta(days=4, hours=2),
                ProviderCheckIn.Outcome.STABLE,
                "Reached on the second try. Back at work, using the nap plan after night shifts.",
            ),
        },  # fmt: skip
        relapse=RelapseStory(
            day=33,
            substance=SubstanceUseHistory.Substance.KRATOM,
            context="Cousin's wedding, out of town; an old friend offered capsules late in the evening.",
            what_helped="Called her sister the next morning, went to SMART on Monday, told the counselor.",
        ),
    ),
    "Garcia": AftercareStory(
        days_in_aftercare=60,
        plan={
            "craving_action_plan": CRAVING_ACTION_PLAN,
            "support_contacts": [{"name": "Luis Garcia", "relationship": "Brother", "phone": "+16175550171"}],
            "support_groups": [
                _group("Downtown NA", "na", "friday", "19:00", place="Community center, 40 Main St"),
            ],
            "reasons_for_recovery": ["Get custody back on weekends."],
        },
        triggers=[_trigger("people", "My old roommate.", "Block his number.", "Meet friends at the gym.")],
        skipped_days=frozenset({14, 15, 16, 22, 30, 31, 38, 41, 44, 45, 47}),
        last_check_in_day=50,
        follow_ups={
            7: FollowUp(datetime.timedelta(hours=1), ProviderCheckIn.Outcome.STABLE, "Doing well, goes to NA."),
            30: FollowUp(
                datetime.timedelta(days=1),
                ProviderCheckIn.Outcome.AT_RISK,
                "Lost his job; missing check-ins. Extra counseling session booked.",
            ),
        },  # fmt: skip
        relapse=RelapseStory(
            day=52,
            substance=SubstanceUseHistory.Substance.PRESCRIPTION_OPIOIDS,
            context="After losing his job; pills from the old roommate.",
            what_helped="His brother drove him to the clinic the next day.",
            readmit_reason="Relapse on opioids after 52 days in aftercare; needs a structured setting again.",
        ),
    ),
}

# New demo patients (first, last, date of birth, sex, phone, login, substance).
NEW_PATIENTS = [
    ("Jamie", "Farrow", datetime.date(1986, 7, 19), Patient.Sex.FEMALE, "+16175550106", "jamie.farrow", "kratom"),
    ("Devon", "Garcia", datetime.date(1991, 2, 27), Patient.Sex.MALE, "+16175550107", "devon.garcia",
     "prescription_opioids"),
]  # fmt: skip
# How long each demo episode stayed in detox and in therapy before aftercare.
DETOX_DAYS, THERAPY_DAYS = 6, 28


def _team() -> dict[str, User]:
    return {
        "physician": User.objects.get(username="physician"),
        "nurse": User.objects.get(username="nurse"),
        "primary_counselor": User.objects.get(username="counselor"),
        "case_manager": User.objects.get(username="casemanager"),
    }


def _ensure_new_patient(facility: Facility, team: dict[str, User], row) -> Patient:
    first, last, dob, sex, phone, username, substance = row
    patient = Patient.objects.filter(facility=facility, last_name=last, date_of_birth=dob).first()
    frontdesk = User.objects.get(username="frontdesk")
    if patient is None:
        patient = patient_services.patient_register(
            actor=frontdesk,
            facility=facility,
            first_name=first,
            last_name=last,
            date_of_birth=dob,
            sex=sex,
            phone=phone,
            timezone="America/New_York",
            preferred_channel=Patient.Channel.SMS,
            quiet_hours_start=datetime.time(22, 0),
            quiet_hours_end=datetime.time(7, 0),
            confirm_new_person=True,
        )
        patient_services.substance_use_record(
            actor=team["physician"],
            patient=patient,
            substance=substance,
            route=SubstanceUseHistory.Route.ORAL,
            frequency=SubstanceUseHistory.Frequency.DAILY,
        )
        patient_services.communication_consent_record(
            actor=frontdesk,
            patient=patient,
            channel=CommunicationConsent.Channel.SMS,
            action=CommunicationConsent.Action.OPT_IN,
            source=CommunicationConsent.Source.PAPER_FORM,
        )
    if patient.user is None:
        patient.user = ensure_login(username, role=Role.PATIENT, facility=facility, first_name=first, last_name=last)
        patient.save(update_fields=["user", "updated_at"])
    return patient


def _bring_to_therapy(patient: Patient, team: dict[str, User], substance: str) -> Episode:
    """A residential episode through assessment and detox into therapy, through treatment's services."""
    physician = team["physician"]
    episode = treatment_services.episode_open(actor=team["case_manager"], patient=patient, **team)
    scores = [
        ("dsm5_sud", {key: index < 7 for index, key in enumerate(DSM5)}, substance),
        ("phq9", {**dict.fromkeys(PHQ9, 1), "q9": 0}, ""),
        ("gad7", dict.fromkeys(GAD7, 1), ""),
    ]
    for instrument, responses, scored_substance in scores:
        treatment_services.observation_record(
            actor=physician, episode=episode, instrument=instrument, responses=responses, substance=scored_substance
        )
    answers = {**HOME, "pregnant": False} if patient.sex != Patient.Sex.MALE else HOME
    assessment = treatment_services.assessment_create(actor=team["nurse"], episode=episode, **answers)
    assessment = treatment_services.assessment_recommend(actor=physician, assessment=assessment)
    treatment_services.assessment_complete(actor=physician, assessment=assessment, accepted_setting=Setting.RESIDENTIAL)
    for to, reason in ((Stage.DETOX, "Supervised withdrawal."), (Stage.THERAPY, "Withdrawal resolved.")):
        episode = treatment_services.episode_transition(actor=physician, episode=episode, to=to, reason=reason)
    return episode


def _backdate_timeline(episode: Episode, aftercare_start: datetime.datetime) -> None:
    """Move the demo episode's history back so that it entered aftercare at `aftercare_start`, after
    DETOX_DAYS in detox and THERAPY_DAYS in therapy (demo data only, on its first run)."""
    moved_to = {
        Stage.DETOX: aftercare_start - datetime.timedelta(days=THERAPY_DAYS + DETOX_DAYS),
        Stage.THERAPY: aftercare_start - datetime.timedelta(days=THERAPY_DAYS),
        Stage.AFTERCARE: aftercare_start,
    }
    opened_at = moved_to[Stage.DETOX] - DAY
    for stage, moment in moved_to.items():
        EpisodeTransition.objects.filter(episode=episode, to_stage=stage).update(occurred_at=moment)
    Episode.objects.filter(pk=episode.pk).update(opened_at=opened_at)
    Observation.objects.filter(episode=episode).update(observed_at=opened_at + datetime.timedelta(hours=1))
    Assessment.objects.filter(episode=episode).update(
        recommended_at=opened_at + datetime.timedelta(hours=3), decided_at=opened_at + datetime.timedelta(hours=4)
    )


def _check_in_values(day: int, story: AftercareStory) -> CheckInDay:
    """A plausible day: cravings easing over the weeks with ups and downs, mood slowly improving."""
    if day in story.check_in_overrides:
        return story.check_in_overrides[day]
    wobble = (0, 1, -1, 2, 0, -1, 1)[day % 7]
    craving = max(0, min(7, 6 - day // 6 + wobble))
    mood = max(2, min(9, 4 + day // 7 - wobble // 2))
    triggers = ("stress at work",) if day % 7 == 3 else ()
    return CheckInDay(craving, mood, triggers=triggers)


def _live_aftercare(patient: Patient, episode: Episode, story: AftercareStory, team: dict[str, User], now) -> str:
    counselor, case_manager = team["primary_counselor"], team["case_manager"]
    plan = services.relapse_prevention_plan_create(
        actor=counselor, episode=episode, triggers=story.triggers, **story.plan
    )
    for trigger in story.patient_triggers:
        services.relapse_trigger_add(actor=patient.user, plan=plan, **trigger)
    episode = treatment_services.episode_transition(
        actor=case_manager, episode=episode, to=Stage.AFTERCARE, reason="Completed the residential programme."
    )
    local_now = now.astimezone(ZoneInfo(patient.timezone))
    local_start = (local_now - datetime.timedelta(days=story.days_in_aftercare)).replace(
        hour=11, minute=0, second=0, microsecond=0
    )
    start = local_start.astimezone(datetime.UTC)
    _backdate_timeline(episode, start)
    plan = services.relapse_prevention_plan_update(actor=case_manager, plan=plan, data={"aftercare_started_at": start})

    last_day = story.last_check_in_day if story.last_check_in_day is not None else story.days_in_aftercare - 1
    for day in range(1, last_day + 1):
        if day in story.skipped_days:
            continue
        values = _check_in_values(day, story)
        services.check_in_submit(
            actor=patient.user,
            patient=patient,
            craving=values.craving,
            mood=values.mood,
            used=values.used,
            triggers=list(values.triggers),
            note=values.note,
            checked_in_at=local_start + datetime.timedelta(days=day, hours=9, minutes=(day * 7) % 50),
        )
    for check_in in ProviderCheckIn.objects.filter(episode=episode, due_at__lt=now).order_by("due_at"):
        follow_up = story.follow_ups.get(check_in.offset_days)
        if follow_up is not None:
            services.provider_check_in_complete(
                actor=check_in.provider,
                check_in=check_in,
                outcome=follow_up.outcome,
                note=follow_up.note,
                completed_at=check_in.due_at + follow_up.late_by,
            )
    services.provider_check_ins_mark_missed(now=now)
    if story.relapse is None:
        return f"{patient.mrn}: {story.days_in_aftercare} days in aftercare"
    relapse = services.relapse_record(
        actor=counselor,
        episode=episode,
        occurred_on=(local_start + datetime.timedelta(days=story.relapse.day)).date(),
        substance=story.relapse.substance,
        context=story.relapse.context,
        what_helped=story.relapse.what_helped,
    )
    if not story.relapse.readmit_reason:
        return f"{patient.mrn}: {story.days_in_aftercare} days in aftercare, a relapse"
    services.episode_readmit(actor=counselor, episode=episode, reason=story.relapse.readmit_reason, relapse=relapse)
    return f"{patient.mrn}: readmitted after {story.days_in_aftercare} days in aftercare"


def seed(*, stdout) -> None:
    demo = Facility.objects.get(name=DEMO_FACILITY)
    team = _team()
    now = timezone.now()
    patients = {"Avery": Patient.objects.filter(facility=demo, last_name="Avery").first()}
    for row in NEW_PATIENTS:
        patients[row[1]] = _ensure_new_patient(demo, team, row)
    substances = {row[1]: row[6] for row in NEW_PATIENTS}
    done = []
    for last_name, story in STORIES.items():
        patient = patients[last_name]
        if patient is None or RelapsePreventionPlan.objects.filter(episode__patient=patient).exists():
            continue
        episode = Episode.objects.filter(patient=patient, closed_at__isnull=True).first()
        if episode is None and last_name in substances and not Episode.objects.filter(patient=patient).exists():
            episode = _bring_to_therapy(patient, team, substances[last_name])
        if episode is None or episode.stage != Stage.THERAPY:
            continue  # not where the story starts (e.g. changed by hand): leave it
        done.append(_live_aftercare(patient, episode, story, team, now))
    logins = ", ".join(row[5] for row in NEW_PATIENTS)
    stdout.write(f"Aftercare: {len(done)} new ({'; '.join(done) or 'all present'}); patient logins {logins}")
