"""Demo episodes: demo patients in assessment, detox, therapy and discharged, with realistic scores, a completed
(or draft) assessment and the transitions that brought them there. The patient login (Avery) stops in therapy:
entering aftercare needs a relapse-prevention plan, which aftercare's seeding writes before making that move,
so `seed_demo` ends with a patient in every stage. Everything goes through the services, so the demo data obeys
the same rules as real data. Idempotent: a patient who already has an episode is left alone."""

from dataclasses import dataclass, field

from clinic.accounts.models import Facility, User
from clinic.accounts.seeding import DEMO_FACILITY
from patients.models import Patient

from . import services
from .models import Episode, Setting, Stage


def _all(value, keys):
    return dict.fromkeys(keys, value)


PHQ9 = [f"q{n}" for n in range(1, 10)]
GAD7 = [f"q{n}" for n in range(1, 8)]
DSM5 = [
    "larger_amounts",
    "cut_down",
    "time_spent",
    "craving",
    "role_failure",
    "social_problems",
    "activities_given_up",
    "hazardous_use",
    "physical_psychological_problems",
    "tolerance",
    "withdrawal",
]


def _dsm5(count: int) -> dict[str, bool]:
    return {key: index < count for index, key in enumerate(DSM5)}


COWS_MILD = {  # total 9
    "pulse": 1, "sweating": 1, "restlessness": 1, "pupils": 1, "aches": 1, "rhinorrhea": 1,
    "gi_upset": 1, "tremor": 1, "yawning": 1, "anxiety": 0, "gooseflesh": 0,
}  # fmt: skip
COWS_MODERATELY_SEVERE = {  # total 28: alerts the physician
    "pulse": 2, "sweating": 3, "restlessness": 3, "pupils": 2, "aches": 2, "rhinorrhea": 2,
    "gi_upset": 3, "tremor": 2, "yawning": 2, "anxiety": 4, "gooseflesh": 3,
}  # fmt: skip
COWS_EASING = {  # total 14
    "pulse": 1, "sweating": 2, "restlessness": 1, "pupils": 1, "aches": 2, "rhinorrhea": 1,
    "gi_upset": 2, "tremor": 1, "yawning": 1, "anxiety": 2, "gooseflesh": 0,
}  # fmt: skip
CIWA_MODERATE = {  # total 12
    "nausea": 2, "tremor": 2, "sweats": 1, "anxiety": 2, "agitation": 1, "tactile": 0, "auditory": 0,
    "visual": 0, "headache": 2, "orientation": 2,
}  # fmt: skip


@dataclass
class Journey:
    """How far a demo patient has come: scores at assessment, the assessment and the moves after it."""

    observations: list[tuple[str, dict, str]]  # (instrument, responses, substance)
    assessment: dict
    decision: dict | None  # None: the assessment is left for the demo user to recommend and complete
    moves: list[tuple[str, str, str | None]] = field(default_factory=list)  # (to, reason, category)
    later_observations: list[tuple[str, dict, str]] = field(default_factory=list)


HOME = {
    "vitals": {"pulse": 88, "systolic_bp": 132, "diastolic_bp": 84, "temperature_c": 36.9, "respiratory_rate": 16,
               "spo2": 98},
    "withdrawal_seizure_or_delirium_history": False,
    "serious_medical_comorbidity": False,
    "safe_living_environment": True,
    "support_system": "moderate",
    "readiness_to_change": "preparation",
}  # fmt: skip

JOURNEYS = {
    # The patient login: kratom with alcohol, anxiety disorder on record -> residential; aftercare comes next.
    "Avery": Journey(
        observations=[
            ("dsm5_sud", _dsm5(5), "kratom"),
            ("dsm5_sud", _dsm5(3), "alcohol"),
            ("phq9", {**_all(1, PHQ9), "q9": 0}, ""),
            ("gad7", _all(2, GAD7), ""),
            ("cows", COWS_MILD, ""),
            ("ciwa_ar", CIWA_MODERATE, ""),
        ],
        assessment={
            **HOME,
            "medical_history": "Chronic low back pain since 2019.",
            "current_medications": "Ibuprofen 400 mg as needed.",
            "urine_drug_screen": {"mitragynine": "positive", "alcohol": "positive", "opiates": "negative"},
            "psychological_evaluation": "Anxious, engaged; wants to stop before his daughter starts school.",
            "support_system": "strong",
        },
        decision={"accepted_setting": Setting.RESIDENTIAL},
        moves=[
            (Stage.DETOX, "Kratom withdrawal expected 12-24 h after the last dose.", None),
            (Stage.THERAPY, "Withdrawal resolved; COWS under 5 for 48 hours.", None),
            # Aftercare needs a relapse-prevention plan: aftercare's seeding writes it and makes that move.
        ],
    ),
    # Opioids and benzodiazepines, depression on record: the assessment waits for the demo physician.
    "Brooks": Journey(
        observations=[
            ("dsm5_sud", _dsm5(7), "prescription_opioids"),
            ("phq9", {**_all(2, PHQ9), "q9": 1}, ""),  # item 9 above 0: a critical safety alert
            ("gad7", _all(2, GAD7), ""),
        ],
        assessment={
            **HOME,
            "pregnant": False,
            "medical_history": "Lumbar fusion surgery in 2021.",
            "current_medications": "None prescribed.",
            "urine_drug_screen": {"oxycodone": "positive", "benzodiazepines": "positive"},
            "psychological_evaluation": "Low mood for months; passive thoughts of death, no plan.",
        },
        decision=None,
    ),
    # Fentanyl, in detox; the last COWS is moderately severe and has alerted the physician.
    "Chen": Journey(
        observations=[("dsm5_sud", _dsm5(9), "fentanyl"), ("cows", COWS_EASING, "")],
        assessment={
            **HOME,
            "medical_history": "Chronic hepatitis C, untreated.",
            "serious_medical_comorbidity": True,
            "urine_drug_screen": {"fentanyl": "positive", "opiates": "positive"},
            "psychological_evaluation": "Ambivalent; came in after an overdose of a friend.",
            "readiness_to_change": "contemplation",
        },
        decision={"accepted_setting": Setting.INPATIENT},
        moves=[(Stage.DETOX, "Opioid withdrawal under medical supervision.", None)],
        later_observations=[("cows", COWS_MODERATELY_SEVERE, "")],
    ),
    # Kratom only, mild, stable home: outpatient, detox skipped by the physician, now in therapy.
    "Dawson": Journey(
        observations=[
            ("dsm5_sud", _dsm5(3), "kratom"),
            ("phq9", _all(0, PHQ9), ""),
            ("gad7", _all(0, GAD7), ""),
            ("cows", {**_all(0, COWS_MILD), "yawning": 1, "anxiety": 1}, ""),
        ],
        assessment={
            **HOME,
            "pregnant": False,
            "support_system": "strong",
            "readiness_to_change": "action",
            "urine_drug_screen": {"mitragynine": "positive"},
            "psychological_evaluation": "Motivated; tapering already started with her GP.",
        },
        decision={"accepted_setting": Setting.OUTPATIENT, "outpatient_intensity": "intensive"},
        moves=[(Stage.THERAPY, "Mild dependence, no withdrawal risk (COWS 2).", None)],
    ),
    # Alcohol with a withdrawal seizure history: inpatient detox, therapy, then discharged on completion.
    "Ellis": Journey(
        observations=[("dsm5_sud", _dsm5(8), "alcohol"), ("ciwa_ar", CIWA_MODERATE, "")],
        assessment={
            **HOME,
            "withdrawal_seizure_or_delirium_history": True,
            "medical_history": "Withdrawal seizure in 2021.",
            "urine_drug_screen": {"alcohol": "positive", "cocaine": "negative"},
            "psychological_evaluation": "Insomnia; drinks to sleep.",
        },
        decision={"accepted_setting": Setting.INPATIENT},
        moves=[
            (Stage.DETOX, "Alcohol withdrawal with seizure history: medically supervised.", None),
            (Stage.THERAPY, "CIWA-Ar under 8 for 72 hours.", None),
            (Stage.DISCHARGED, "Completed the programme; follow-up with primary care.", "completed"),
        ],
    ),
}


def _walk(patient: Patient, journey: Journey, team: dict[str, User]) -> Episode:
    physician, nurse = team["physician"], team["nurse"]
    episode = services.episode_open(actor=team["case_manager"], patient=patient, **team)
    for instrument, responses, substance in journey.observations:
        services.observation_record(
            actor=physician, episode=episode, instrument=instrument, responses=responses, substance=substance
        )
    assessment = services.assessment_create(actor=nurse, episode=episode, **journey.assessment)
    if journey.decision is None:
        return episode
    assessment = services.assessment_recommend(actor=physician, assessment=assessment)
    decision = dict(journey.decision)
    if assessment.recommended_setting == "inpatient" and decision["accepted_setting"] == Setting.OUTPATIENT:
        decision["override_reason"] = "Patient prefers to keep working; strong support at home."
    if assessment.recommended_setting == "outpatient" and decision["accepted_setting"] != Setting.OUTPATIENT:
        decision["override_reason"] = "Clinical judgement: needs a structured setting."
    services.assessment_complete(actor=physician, assessment=assessment, **decision)
    for to, reason, category in journey.moves:
        episode = services.episode_transition(actor=physician, episode=episode, to=to, reason=reason, category=category)
    for instrument, responses, substance in journey.later_observations:
        services.observation_record(
            actor=nurse, episode=episode, instrument=instrument, responses=responses, substance=substance
        )
    return episode


def seed(*, stdout) -> None:
    demo = Facility.objects.get(name=DEMO_FACILITY)
    team = {
        "physician": User.objects.get(username="physician"),
        "nurse": User.objects.get(username="nurse"),
        "primary_counselor": User.objects.get(username="counselor"),
        "case_manager": User.objects.get(username="casemanager"),
    }
    created = []
    for last_name, journey in JOURNEYS.items():
        patient = Patient.objects.filter(facility=demo, last_name=last_name).first()
        if patient is None or Episode.objects.filter(patient=patient).exists():
            continue
        created.append(f"{patient.mrn}: {_walk(patient, journey, team).stage}")
    stdout.write(f"Episodes: {len(created)} new ({', '.join(created) or 'all present'})")
