"""A demo detox episode with a realistic three-day course: a man using kratom daily with alcohol, admitted to
inpatient detox; 18 observation rounds every 4 hours (COWS and CIWA-Ar with vitals; one recorded late after the
overdue alert; the day-2 peak alerting the physician), orders for clonidine (symptom-triggered), a short
chlordiazepoxide course, comfort medication and supplements, and their administrations. The chart draws it.

Everything is written through the services. The episode is opened, assessed and moved into detox at seeding
time and then moved back three days (`_move_back`: only the clock of this demo episode), so that the course
can be recorded as it happened: a round or a dose is stored with the time it was observed or given.
Idempotent: nothing is done when the demo patient already has an episode.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.accounts.seeding import DEMO_FACILITY
from clinic.errors import Conflict
from clinic.notifications.services import reminder_cancel_for_subject
from patients import services as patient_services
from patients.models import Allergy, Patient, SubstanceUseHistory
from treatment import services as treatment_services
from treatment.instruments import get_definition
from treatment.models import Assessment, Episode, EpisodeTransition, Observation, Setting, Stage

from . import services
from .models import DetoxCourse, Drug, MedicationAdministration, MedicationOrder, ObservationRound
from .schedule import whole_minute

DEMO_PATIENT = {
    "first_name": "Micah",
    "last_name": "Grant",
    "date_of_birth": datetime.date(1986, 7, 19),
    "sex": Patient.Sex.MALE,
    "phone": "+16175550106",
}
HOURS_SINCE_LAST_KRATOM_AT_ADMISSION = 14
COURSE_HOURS = 75.5  # detox started this long before seeding: 18 rounds and their delays, then now

# Round by round (every 4 hours from 4 hours after admission): COWS, CIWA-Ar, pulse, systolic/diastolic,
# temperature, respiratory rate, SpO2, and how many minutes after the due time the nurse recorded it.
# fmt: off
ROUNDS = [
    (8,  6, 96,  136, 86, 37.0, 16, 98, 5),
    (11, 8, 102, 140, 88, 37.1, 18, 98, 10),
    (14, 10, 106, 142, 90, 37.2, 18, 97, 4),
    (17, 12, 110, 146, 92, 37.4, 20, 97, 12),
    (19, 11, 112, 148, 94, 37.5, 20, 97, 8),
    (22, 10, 116, 150, 96, 37.6, 22, 96, 6),
    (26, 9, 122, 154, 98, 37.8, 22, 96, 3),   # day 2 peak: COWS 26 alerts the physician
    (24, 8, 118, 150, 96, 37.6, 20, 97, 9),
    (21, 7, 112, 146, 92, 37.4, 20, 97, 50),  # recorded late, after the overdue alert
    (20, 6, 108, 142, 90, 37.3, 18, 97, 7),
    (18, 5, 104, 140, 88, 37.2, 18, 98, 5),
    (15, 5, 98,  136, 86, 37.1, 18, 98, 11),
    (13, 4, 94,  134, 84, 37.0, 16, 98, 6),
    (11, 3, 90,  132, 84, 36.9, 16, 98, 4),
    (9,  3, 88,  130, 82, 36.9, 16, 98, 8),
    (8,  2, 84,  128, 80, 36.8, 16, 99, 5),
    (6,  2, 82,  126, 80, 36.8, 14, 99, 7),
    (5,  1, 80,  124, 78, 36.7, 14, 99, 6),
]
# fmt: on
# Round number -> the PRN doses the nurse gives after recording it (refused by the service when not allowed).
PRN_AFTER_ROUND = {
    3: ["clonidine"],
    4: ["clonidine", "acetaminophen"],
    5: ["clonidine", "ondansetron"],
    6: ["clonidine"],
    7: ["clonidine", "acetaminophen", "loperamide"],
    8: ["clonidine", "ondansetron"],
    9: ["clonidine"],
    10: ["clonidine", "acetaminophen"],
    11: ["clonidine", "loperamide"],
    12: ["clonidine"],
    13: ["clonidine"],
}  # fmt: skip
ROUND_NOTES = {
    7: "Sweating, gooseflesh, diarrhoea overnight. Physician informed; fluids encouraged.",
    9: "Late round: patient asleep at the due time, woken at 50 minutes.",
    18: "Settled, eating and sleeping better. Plan review with the physician tomorrow.",
}


def responses_for(code: str, total: int) -> dict[str, int]:
    """Plausible responses of instrument `code` that total `total`: raised a step at a time, item by item."""
    definition = get_definition(code)
    values = {item.key: min(item.allowed) for item in definition.items}
    progress = True
    while sum(values.values()) < total and progress:
        progress = False
        for item in definition.items:
            higher = [v for v in item.allowed if v > values[item.key]]
            if higher and sum(values.values()) - values[item.key] + higher[0] <= total:
                values[item.key] = higher[0]
                progress = True
            if sum(values.values()) == total:
                break
    if sum(values.values()) != total:
        raise ValueError(f"{code}: cannot reach {total} step by step")
    return values


def _move_back(episode: Episode, delta: datetime.timedelta) -> None:
    """Move this demo episode's clock back by `delta`: when it opened, was assessed and entered detox."""
    episode.opened_at -= delta
    episode.save(update_fields=["opened_at"])
    for transition in EpisodeTransition.objects.filter(episode=episode):
        transition.occurred_at -= delta
        transition.save(update_fields=["occurred_at"])
    for observation in Observation.objects.filter(episode=episode):
        observation.observed_at -= delta
        observation.save(update_fields=["observed_at"])
    assessment = Assessment.objects.get(episode=episode)
    assessment.recommended_at -= delta
    assessment.decided_at -= delta
    assessment.save(update_fields=["recommended_at", "decided_at"])
    course = DetoxCourse.objects.get(episode=episode)
    course.started_at -= delta
    course.save(update_fields=["started_at"])
    first = ObservationRound.objects.get(course=course, sequence=1)
    reminder_cancel_for_subject(subject_type=services.ROUND_SUBJECT, subject_id=first.pk)
    first.due_at -= delta
    first.save(update_fields=["due_at"])


def _admit(patient: Patient, team: dict[str, User], now: datetime.datetime) -> Episode:
    admitted = now - datetime.timedelta(hours=COURSE_HOURS)
    physician, nurse = team["physician"], team["nurse"]
    patient_services.substance_use_record(
        actor=physician, patient=patient, substance=SubstanceUseHistory.Substance.KRATOM,
        route=SubstanceUseHistory.Route.ORAL, amount=Decimal("30"), amount_unit=SubstanceUseHistory.AmountUnit.GRAMS,
        frequency=SubstanceUseHistory.Frequency.SEVERAL_TIMES_DAILY, years_of_use=Decimal("5"), age_at_first_use=33,
        last_use=admitted - datetime.timedelta(hours=HOURS_SINCE_LAST_KRATOM_AT_ADMISSION),
        notes="Powder, 6-8 doses a day; stopped on the morning before admission.",
    )  # fmt: skip
    patient_services.substance_use_record(
        actor=physician, patient=patient, substance=SubstanceUseHistory.Substance.ALCOHOL,
        route=SubstanceUseHistory.Route.ORAL, amount=Decimal("8"),
        amount_unit=SubstanceUseHistory.AmountUnit.STANDARD_DRINKS,
        frequency=SubstanceUseHistory.Frequency.SEVERAL_TIMES_WEEKLY, years_of_use=Decimal("12"), age_at_first_use=20,
        last_use=admitted - datetime.timedelta(hours=20), notes="Beer and spirits in the evenings.",
    )  # fmt: skip
    patient_services.allergy_record(
        actor=physician, patient=patient, substance="NSAIDs", reaction="Gastric bleeding (2020)",
        severity=Allergy.Severity.SEVERE,
    )  # fmt: skip
    episode = treatment_services.episode_open(actor=team["case_manager"], patient=patient, **team)
    for code, total, substance in [("dsm5_sud", 0, "kratom"), ("cows", 7, ""), ("ciwa_ar", 5, "")]:
        responses = (
            {key: index < 7 for index, key in enumerate(item.key for item in get_definition(code).items)}
            if code == "dsm5_sud"
            else responses_for(code, total)
        )
        treatment_services.observation_record(
            actor=physician, episode=episode, instrument=code, responses=responses, substance=substance
        )
    assessment = treatment_services.assessment_create(
        actor=nurse, episode=episode,
        vitals={"pulse": 94, "systolic_bp": 138, "diastolic_bp": 88, "temperature_c": 36.9, "respiratory_rate": 16,
                "spo2": 98},
        medical_history="Gastric bleed on NSAIDs in 2020. No seizures.",
        current_medications="None.",
        urine_drug_screen={"mitragynine": "positive", "alcohol": "positive", "opiates": "negative"},
        withdrawal_seizure_or_delirium_history=False, serious_medical_comorbidity=False,
        psychological_evaluation="Low mood and poor sleep; motivated after losing his job.",
        support_system="limited", safe_living_environment=True, readiness_to_change="preparation",
    )  # fmt: skip
    assessment = treatment_services.assessment_recommend(actor=physician, assessment=assessment)
    treatment_services.assessment_complete(
        actor=physician,
        assessment=assessment,
        accepted_setting=Setting.INPATIENT,
        override_reason="" if assessment.recommended_setting == "inpatient" else "Daily alcohol with kratom.",
    )
    episode = treatment_services.episode_transition(
        actor=physician, episode=episode, to=Stage.DETOX, reason="Kratom and alcohol withdrawal: supervised detox."
    )
    transition = EpisodeTransition.objects.get(episode=episode, to_stage=Stage.DETOX)
    _move_back(episode, transition.occurred_at - admitted)
    episode.refresh_from_db()
    return episode


def _orders(episode: Episode, physician: User, start: datetime.datetime) -> dict[str, MedicationOrder]:
    drugs = {drug.code: drug for drug in Drug.objects.all()}
    at = start + datetime.timedelta(minutes=15)
    bedtime = (start + datetime.timedelta(days=1)).replace(hour=22, minute=0)
    if bedtime - start > datetime.timedelta(days=1):
        bedtime -= datetime.timedelta(days=1)
    specs = {
        "clonidine": {"dose": Decimal("0.1"), "dose_unit": "mg", "frequency": "prn", "min_interval_minutes": 240,
                      "max_doses_per_24h": 4, "indication": "Sweating, restlessness, anxiety",
                      "prn_instrument": "cows", "prn_min_band": "moderate",
                      "instructions": "Hold if systolic below 100 or pulse below 60."},
        "chlordiazepoxide": {"dose": Decimal("25"), "dose_unit": "mg", "frequency": "q6h",
                             "stops_at": at + datetime.timedelta(days=5),
                             "instructions": "Alcohol withdrawal cover; hold if drowsy."},
        "ondansetron": {"dose": Decimal("4"), "dose_unit": "mg", "frequency": "prn", "min_interval_minutes": 480,
                        "indication": "Nausea or vomiting"},
        "loperamide": {"dose": Decimal("2"), "dose_unit": "mg", "frequency": "prn", "min_interval_minutes": 120,
                       "max_doses_per_24h": 6, "indication": "Loose stools"},
        "acetaminophen": {"dose": Decimal("1000"), "dose_unit": "mg", "frequency": "prn", "min_interval_minutes": 360,
                          "max_doses_per_24h": 4, "indication": "Muscle aches, headache"},
        "melatonin": {"dose": Decimal("3"), "dose_unit": "mg", "frequency": "daily", "starts_at": bedtime},
        "b_complex": {"dose": Decimal("1"), "dose_unit": "tablet", "frequency": "daily"},
        "magnesium": {"dose": Decimal("400"), "dose_unit": "mg", "frequency": "daily"},
    }  # fmt: skip
    return {
        code: services.medication_order_create(
            actor=physician, episode=episode, drug=drugs[code], **{"starts_at": at, **spec}
        )
        for code, spec in specs.items()
    }


def _give_scheduled(orders: dict[str, MedicationOrder], nurse: User, until: datetime.datetime) -> None:
    from .schedule import dose_times

    held = {("chlordiazepoxide", 10): "Drowsy on assessment (RASS -2); held per protocol."}
    refused = {("melatonin", 1): "Declined: already asleep."}
    for code in ("chlordiazepoxide", "melatonin", "b_complex", "magnesium"):
        order = orders[code]
        for number, moment in enumerate(dose_times(order, until=until - datetime.timedelta(minutes=10))):
            outcome, reason = "given", ""
            if (code, number) in held:
                outcome, reason = "held", held[(code, number)]
            elif (code, number) in refused:
                outcome, reason = "refused", refused[(code, number)]
            services.medication_administer(
                actor=nurse,
                order=order,
                outcome=outcome,
                scheduled_for=moment,
                administered_at=moment + datetime.timedelta(minutes=5 + number % 3 * 5),
                reason=reason,
            )


def _record_course(episode: Episode, team: dict[str, User], now: datetime.datetime) -> int:
    physician, nurse = team["physician"], team["nurse"]
    course = DetoxCourse.objects.get(episode=episode)
    orders = _orders(episode, physician, course.started_at)
    for number, row in enumerate(ROUNDS, start=1):
        cows, ciwa, pulse, systolic, diastolic, temperature, respiration, spo2, late_minutes = row
        due = ObservationRound.objects.get(course=course, sequence=number)
        observed_at = whole_minute(due.due_at + datetime.timedelta(minutes=late_minutes))
        if observed_at > now:
            break
        if late_minutes > 30:
            services.round_flag_overdue(observation_round=due, now=due.due_at + datetime.timedelta(minutes=31))
        services.round_record(
            actor=nurse, observation_round=due, cows=responses_for("cows", cows),
            ciwa_ar=responses_for("ciwa_ar", ciwa), observed_at=observed_at, note=ROUND_NOTES.get(number, ""),
            vitals={"pulse": pulse, "systolic_bp": systolic, "diastolic_bp": diastolic, "temperature_c": temperature,
                    "respiratory_rate": respiration, "spo2": spo2},
        )  # fmt: skip
        for minutes, code in enumerate(PRN_AFTER_ROUND.get(number, []), start=1):
            try:
                services.medication_administer(
                    actor=nurse, order=orders[code], outcome=MedicationAdministration.Outcome.GIVEN,
                    administered_at=observed_at + datetime.timedelta(minutes=10 * minutes),
                )  # fmt: skip
            except Conflict:
                continue  # the MAR said no (interval, daily cap or score): the nurse does not give it
    _give_scheduled(orders, nurse, now)
    return ObservationRound.objects.filter(course=course, status=ObservationRound.Status.COMPLETED).count()


def seed(*, stdout) -> None:
    added = services.drug_catalogue_ensure()
    demo = Facility.objects.get(name=DEMO_FACILITY)
    team = {
        "physician": User.objects.get(username="physician"),
        "nurse": User.objects.get(username="nurse"),
        "primary_counselor": User.objects.get(username="counselor"),
        "case_manager": User.objects.get(username="casemanager"),
    }
    patient = Patient.objects.filter(
        facility=demo, last_name=DEMO_PATIENT["last_name"], date_of_birth=DEMO_PATIENT["date_of_birth"]
    ).first()
    if patient is not None and Episode.objects.filter(patient=patient).exists():
        stdout.write(f"Detox: drug catalogue +{added}; demo detox episode present ({patient.mrn})")
        return
    if patient is None:
        patient = patient_services.patient_register(
            actor=User.objects.get(username="frontdesk"),
            facility=demo,
            timezone="America/New_York",
            preferred_channel=Patient.Channel.SMS,
            confirm_new_person=True,
            **DEMO_PATIENT,
        )
    now = whole_minute(timezone.now())
    episode = _admit(patient, team, now)
    rounds = _record_course(episode, team, now)
    stdout.write(
        f"Detox: drug catalogue +{added}; demo detox episode {episode.pk} ({patient.mrn}) with {rounds} rounds "
        f"recorded over three days; chart at /api/v1/episodes/{episode.pk}/withdrawal-chart/"
    )
