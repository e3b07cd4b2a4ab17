import datetime

from clinic.accounts.models import Facility, User
from clinic.accounts.seeding import DEMO_FACILITY, OTHER_FACILITY, ensure_login
from clinic.accounts.roles import Role

from . import services
from .models import Patient

# (first, last, date of birth, sex, phone); the first one gets the patient login `patient`.
DEMO_PATIENTS = [
    ("Jordan", "Avery", datetime.date(1988, 4, 12), Patient.Sex.MALE, "+15555550101"),
    ("Taylor", "Brooks", datetime.date(1992, 9, 3), Patient.Sex.FEMALE, "+15555550102"),
    ("Morgan", "Chen", datetime.date(1979, 1, 22), Patient.Sex.MALE, "+15555550103"),
    ("Riley", "Dawson", datetime.date(1995, 6, 30), Patient.Sex.FEMALE, "+15555550104"),
    ("Casey", "Ellis", datetime.date(1984, 11, 8), Patient.Sex.MALE, "+15555550105"),
]
OTHER_PATIENTS = [("Quinn", "Foster", datetime.date(1990, 2, 14), Patient.Sex.FEMALE, "+15555550201")]


def _ensure_patient(actor: User, facility: Facility, first, last, dob, sex, phone) -> Patient:
    existing = Patient.objects.filter(facility=facility, last_name=last, date_of_birth=dob).first()
    if existing:
        return existing
    return services.patient_register(
        actor=actor, facility=facility, first_name=first, last_name=last, date_of_birth=dob, sex=sex,
        phone=phone, timezone="America/New_York", preferred_channel=Patient.Channel.SMS,
    )


def seed(*, stdout) -> None:
    demo = Facility.objects.get(name=DEMO_FACILITY)
    other = Facility.objects.get(name=OTHER_FACILITY)
    frontdesk = User.objects.get(username="frontdesk")
    othernurse = User.objects.get(username="othernurse")
    patients = [_ensure_patient(frontdesk, demo, *row) for row in DEMO_PATIENTS]
    for row in OTHER_PATIENTS:
        _ensure_patient(othernurse, other, *row)
    login = ensure_login("patient", role=Role.PATIENT, facility=demo, first_name="Jordan", last_name="Avery")
    first = patients[0]
    if first.user_id != login.id:
        Patient.objects.filter(user=login).exclude(pk=first.pk).update(user=None)
        first.user = login
        first.save(update_fields=["user", "updated_at"])
    stdout.write(f"Patients: {len(patients)} at {DEMO_FACILITY}, patient login `patient` ({first.mrn})")
