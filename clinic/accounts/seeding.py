from django.conf import settings

from .models import Facility, User
from .roles import Role

DEMO_FACILITY = "Demo Recovery Center"
OTHER_FACILITY = "Other Clinic"
DEMO_STAFF = [
    ("physician", Role.PHYSICIAN, DEMO_FACILITY, "Rowan", "Lee"),
    ("nurse", Role.NURSE, DEMO_FACILITY, "Nia", "Okafor"),
    ("counselor", Role.COUNSELOR, DEMO_FACILITY, "Casey", "Morgan"),
    ("casemanager", Role.CASE_MANAGER, DEMO_FACILITY, "Sam", "Ortiz"),
    ("frontdesk", Role.FRONT_DESK, DEMO_FACILITY, "Frankie", "Diaz"),
    ("clinicadmin", Role.CLINIC_ADMIN, DEMO_FACILITY, "Alex", "Kim"),
    ("othernurse", Role.NURSE, OTHER_FACILITY, "Oli", "Novak"),
]


def ensure_login(
    username: str, *, role: str, facility: Facility, first_name: str = "", last_name: str = "", email: str = ""
) -> User:
    """Create or refresh a demo login with the demo password."""
    user, _ = User.objects.get_or_create(username=username, defaults={"role": role})
    user.role = role
    user.first_name, user.last_name = first_name, last_name
    user.email = email
    user.is_active = True
    user.is_staff = role != Role.PATIENT
    user.set_password(settings.DEMO_PASSWORD)
    user.save()
    user.facilities.set([facility])
    return user


def seed(*, stdout) -> None:
    facilities = {name: Facility.objects.get_or_create(name=name)[0] for name in (DEMO_FACILITY, OTHER_FACILITY)}
    for username, role, facility_name, first, last in DEMO_STAFF:
        # A work address, so staff reminders and alerts reach the outbox (var/outbox.jsonl) in `make run`.
        email = f"{username}@demo-clinic.example"
        ensure_login(
            username, role=role, facility=facilities[facility_name], first_name=first, last_name=last, email=email
        )
    stdout.write(f"Staff logins: {', '.join(username for username, *_ in DEMO_STAFF)}")
