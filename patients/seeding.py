"""Demo patients with a realistic intake record. Idempotent: each record is looked up by a natural key
(patient + substance, patient + condition name, ...) and created through the services only when missing."""

import datetime
from decimal import Decimal

from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.accounts.roles import Role
from clinic.accounts.seeding import DEMO_FACILITY, OTHER_FACILITY, ensure_login

from . import services
from .models import (
    Allergy,
    CommunicationConsent,
    CoOccurringCondition,
    DisclosureConsent,
    Patient,
    PatientContact,
    SubstanceUseHistory,
)

Substance = SubstanceUseHistory.Substance
Route = SubstanceUseHistory.Route
Unit = SubstanceUseHistory.AmountUnit
Frequency = SubstanceUseHistory.Frequency

# (first, last, date of birth, sex, phone); the first one gets the patient login `patient`.
# 555-01xx numbers are reserved for fiction, in real area codes so that they validate.
DEMO_PATIENTS = [
    ("Jordan", "Avery", datetime.date(1988, 4, 12), Patient.Sex.MALE, "+16175550101"),
    ("Taylor", "Brooks", datetime.date(1992, 9, 3), Patient.Sex.FEMALE, "+16175550102"),
    ("Morgan", "Chen", datetime.date(1979, 1, 22), Patient.Sex.MALE, "+16175550103"),
    ("Riley", "Dawson", datetime.date(1995, 6, 30), Patient.Sex.FEMALE, "+16175550104"),
    ("Casey", "Ellis", datetime.date(1984, 11, 8), Patient.Sex.MALE, "+16175550105"),
]
OTHER_PATIENTS = [("Quinn", "Foster", datetime.date(1990, 2, 14), Patient.Sex.FEMALE, "+16175550201")]

# Per demo patient (by last name): substance-use history; last use is given as hours before seeding.
HISTORY = {
    "Avery": [
        {
            "substance": Substance.KRATOM,
            "route": Route.ORAL,
            "amount": Decimal("20"),
            "amount_unit": Unit.GRAMS,
            "frequency": Frequency.SEVERAL_TIMES_DAILY,
            "years_of_use": Decimal("4"),
            "age_at_first_use": 31,
            "last_use_hours": 16,
            "notes": "Powder in tea, 4-5 doses a day; started for back pain.",
        },
        {
            "substance": Substance.ALCOHOL,
            "route": Route.ORAL,
            "amount": Decimal("6"),
            "amount_unit": Unit.STANDARD_DRINKS,
            "frequency": Frequency.SEVERAL_TIMES_WEEKLY,
            "years_of_use": Decimal("10"),
            "age_at_first_use": 18,
            "last_use_hours": 40,
            "notes": "Beer most evenings with kratom.",
        },
    ],
    "Brooks": [
        {
            "substance": Substance.PRESCRIPTION_OPIOIDS,
            "route": Route.ORAL,
            "amount": Decimal("60"),
            "amount_unit": Unit.MILLIGRAMS,
            "frequency": Frequency.DAILY,
            "years_of_use": Decimal("3"),
            "age_at_first_use": 29,
            "last_use_hours": 20,
            "notes": "Oxycodone, first prescribed after surgery.",
        },
        {
            "substance": Substance.BENZODIAZEPINES,
            "route": Route.ORAL,
            "amount": Decimal("2"),
            "amount_unit": Unit.MILLIGRAMS,
            "frequency": Frequency.SEVERAL_TIMES_WEEKLY,
            "years_of_use": Decimal("1"),
            "age_at_first_use": 31,
            "last_use_hours": 60,
            "notes": "Alprazolam, not prescribed.",
        },
    ],
    "Chen": [
        {
            "substance": Substance.FENTANYL,
            "route": Route.SMOKED,
            "amount": Decimal("1"),
            "amount_unit": Unit.BAGS,
            "frequency": Frequency.SEVERAL_TIMES_DAILY,
            "years_of_use": Decimal("2"),
            "age_at_first_use": 43,
            "last_use_hours": 10,
        },
        {
            "substance": Substance.HEROIN,
            "route": Route.INJECTED,
            "amount": Decimal("2"),
            "amount_unit": Unit.BAGS,
            "frequency": Frequency.DAILY,
            "years_of_use": Decimal("6"),
            "age_at_first_use": 37,
            "last_use_hours": 24 * 200,
        },
    ],
    "Dawson": [
        {
            "substance": Substance.KRATOM,
            "route": Route.ORAL,
            "amount": Decimal("8"),
            "amount_unit": Unit.TABLETS,
            "frequency": Frequency.DAILY,
            "years_of_use": Decimal("2"),
            "age_at_first_use": 27,
            "last_use_hours": 30,
            "notes": "Capsules bought at a smoke shop.",
        },
    ],
    "Ellis": [
        {
            "substance": Substance.ALCOHOL,
            "route": Route.ORAL,
            "amount": Decimal("12"),
            "amount_unit": Unit.STANDARD_DRINKS,
            "frequency": Frequency.DAILY,
            "years_of_use": Decimal("15"),
            "age_at_first_use": 16,
            "last_use_hours": 8,
            "notes": "History of withdrawal seizure (2021).",
        },
        {
            "substance": Substance.STIMULANTS,
            "route": Route.INTRANASAL,
            "frequency": Frequency.MONTHLY,
            "years_of_use": Decimal("5"),
            "age_at_first_use": 25,
            "last_use_hours": 24 * 20,
            "notes": "Cocaine.",
        },
    ],
    "Foster": [
        {
            "substance": Substance.CANNABIS,
            "route": Route.SMOKED,
            "frequency": Frequency.DAILY,
            "years_of_use": Decimal("8"),
            "age_at_first_use": 17,
            "last_use_hours": 12,
        },
    ],
}
CONDITIONS = {
    "Avery": [{"name": "Generalized anxiety disorder", "icd10_code": "F41.1", "status": "active"}],
    "Brooks": [
        {"name": "Major depressive disorder, recurrent, moderate", "icd10_code": "F33.1", "status": "active"},
        {
            "name": "Post-traumatic stress disorder",
            "icd10_code": "F43.10",
            "status": "resolved",
            "onset_date": datetime.date(2015, 3, 1),
            "resolved_date": datetime.date(2020, 6, 1),
        },
    ],
    "Chen": [{"name": "Chronic hepatitis C", "icd10_code": "B18.2", "status": "active"}],
    "Ellis": [{"name": "Insomnia", "icd10_code": "G47.00", "status": "active"}],
}
ALLERGIES = {
    "Avery": [{"substance": "Codeine", "reaction": "Nausea and itching", "severity": Allergy.Severity.MILD}],
    "Brooks": [{"substance": "Penicillin", "reaction": "Hives", "severity": Allergy.Severity.MODERATE}],
    "Chen": [{"substance": "Sulfonamides", "reaction": "Rash, facial swelling", "severity": Allergy.Severity.SEVERE}],
}
CONTACTS = {
    "Avery": [
        {
            "kind": "emergency",
            "name": "Dana Avery",
            "relationship": "Spouse",
            "phone": "+16175550111",
            "may_contact": True,
        },
        {
            "kind": "support",
            "name": "Chris Patel",
            "relationship": "Sponsor",
            "phone": "+16175550112",
            "may_contact": True,
        },
    ],
    "Brooks": [
        {
            "kind": "emergency",
            "name": "Pat Brooks",
            "relationship": "Mother",
            "phone": "+16175550121",
            "may_contact": True,
        }
    ],
    "Chen": [
        {
            "kind": "emergency",
            "name": "Lee Chen",
            "relationship": "Brother",
            "phone": "+16175550131",
            "may_contact": False,
        }
    ],
    "Dawson": [
        {
            "kind": "emergency",
            "name": "Sam Dawson",
            "relationship": "Father",
            "phone": "+16175550141",
            "may_contact": True,
        }
    ],
    "Ellis": [
        {
            "kind": "support",
            "name": "Robin Hale",
            "relationship": "Friend",
            "email": "robin@example.org",
            "may_contact": True,
        }
    ],
}
SMS_OPT_IN = ["Avery", "Brooks", "Dawson", "Ellis"]
SMS_OPT_OUT_LATER = ["Ellis"]  # opted in at intake, texted STOP later: shows the opt-out history


def _ensure_patient(actor: User, facility: Facility, first, last, dob, sex, phone) -> Patient:
    existing = Patient.objects.filter(facility=facility, last_name=last, date_of_birth=dob).first()
    if existing:
        return existing
    return services.patient_register(
        actor=actor,
        facility=facility,
        first_name=first,
        last_name=last,
        date_of_birth=dob,
        sex=sex,
        phone=phone,
        timezone="America/New_York",
        preferred_channel=Patient.Channel.SMS,
        quiet_hours_start=datetime.time(21, 0),
        quiet_hours_end=datetime.time(8, 0),
        confirm_new_person=True,
    )


def _seed_record(patient: Patient, *, clinician: User, frontdesk: User, now: datetime.datetime) -> int:
    created = 0
    last = patient.last_name
    for entry in HISTORY.get(last, []):
        fields = dict(entry)
        hours = fields.pop("last_use_hours")
        if not SubstanceUseHistory.objects.filter(patient=patient, substance=fields["substance"]).exists():
            last_use = now - datetime.timedelta(hours=hours)
            services.substance_use_record(actor=clinician, patient=patient, last_use=last_use, **fields)
            created += 1
    for fields in CONDITIONS.get(last, []):
        if not CoOccurringCondition.objects.filter(patient=patient, name=fields["name"]).exists():
            services.condition_record(actor=clinician, patient=patient, **fields)
            created += 1
    for fields in ALLERGIES.get(last, []):
        if not Allergy.objects.filter(patient=patient, substance=fields["substance"]).exists():
            services.allergy_record(actor=clinician, patient=patient, **fields)
            created += 1
    for fields in CONTACTS.get(last, []):
        if not PatientContact.objects.filter(patient=patient, name=fields["name"]).exists():
            services.contact_add(actor=frontdesk, patient=patient, **fields)
            created += 1
    sms = CommunicationConsent.Channel.SMS
    if last in SMS_OPT_IN and not CommunicationConsent.objects.filter(patient=patient, channel=sms).exists():
        services.communication_consent_record(
            actor=frontdesk,
            patient=patient,
            channel=sms,
            action=CommunicationConsent.Action.OPT_IN,
            source=CommunicationConsent.Source.PAPER_FORM,
            occurred_at=patient.created_at,
        )
        created += 1
        if last in SMS_OPT_OUT_LATER:
            services.communication_consent_record(
                actor=frontdesk,
                patient=patient,
                channel=sms,
                action=CommunicationConsent.Action.OPT_OUT,
                source=CommunicationConsent.Source.SMS_KEYWORD,
                note="Replied STOP",
            )
            created += 1
    return created


def _seed_disclosure_consents(patients: dict[str, Patient], *, casemanager: User, now: datetime.datetime) -> int:
    created = 0
    avery, brooks = patients["Avery"], patients["Brooks"]
    if not DisclosureConsent.objects.filter(patient=avery).exists():
        services.disclosure_consent_record(
            actor=casemanager,
            patient=avery,
            information_categories=[
                DisclosureConsent.Information.ATTENDANCE,
                DisclosureConsent.Information.MEDICATIONS,
                DisclosureConsent.Information.TREATMENT_PLAN,
            ],
            information_description=(
                "Attendance, current medications and the treatment plan with progress, for the duration of care."
            ),
            recipients=["Dr. Sam Rivera, Family Health Clinic"],
            purpose=DisclosureConsent.Purpose.CARE_COORDINATION,
            right_to_revoke_acknowledged=True,
            expires_at=now + datetime.timedelta(days=365),
            expiry_event="Discharge from aftercare",
            signed_by_name="Jordan Avery",
            signed_at=now - datetime.timedelta(days=2),
        )
        created += 1
    if not DisclosureConsent.objects.filter(patient=brooks).exists():
        consent = services.disclosure_consent_record(
            actor=casemanager,
            patient=brooks,
            information_categories=[DisclosureConsent.Information.ATTENDANCE],
            information_description="Whether I attend treatment, for my employer's return-to-work program.",
            recipients=["Acme Logistics HR"],
            purpose=DisclosureConsent.Purpose.EMPLOYMENT,
            right_to_revoke_acknowledged=True,
            expires_at=now + datetime.timedelta(days=90),
            signed_by_name="Taylor Brooks",
            signed_at=now - datetime.timedelta(days=5),
        )
        services.disclosure_consent_revoke(actor=casemanager, consent=consent, reason="Patient changed employer.")
        created += 1
    return created


def seed(*, stdout) -> None:
    demo = Facility.objects.get(name=DEMO_FACILITY)
    other = Facility.objects.get(name=OTHER_FACILITY)
    frontdesk = User.objects.get(username="frontdesk")
    physician = User.objects.get(username="physician")
    casemanager = User.objects.get(username="casemanager")
    othernurse = User.objects.get(username="othernurse")
    now = timezone.now()
    patients = [_ensure_patient(frontdesk, demo, *row) for row in DEMO_PATIENTS]
    others = [_ensure_patient(othernurse, other, *row) for row in OTHER_PATIENTS]
    login = ensure_login("patient", role=Role.PATIENT, facility=demo, first_name="Jordan", last_name="Avery")
    first = patients[0]
    if first.user_id != login.id:
        Patient.objects.filter(user=login).exclude(pk=first.pk).update(user=None)
        first.user = login
        first.save(update_fields=["user", "updated_at"])
    created = sum(_seed_record(p, clinician=physician, frontdesk=frontdesk, now=now) for p in patients)
    created += sum(_seed_record(p, clinician=othernurse, frontdesk=othernurse, now=now) for p in others)
    created += _seed_disclosure_consents({p.last_name: p for p in patients}, casemanager=casemanager, now=now)
    stdout.write(
        f"Patients: {len(patients)} at {DEMO_FACILITY}, patient login `patient` ({first.mrn}); "
        f"{created} new history, condition, allergy, contact and consent records"
    )
