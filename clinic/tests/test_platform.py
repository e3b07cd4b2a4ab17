import os
import subprocess
import sys

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.test import Client, override_settings
from rest_framework.test import APIClient

from clinic.accounts.hashers import ClinicArgon2PasswordHasher
from clinic.accounts.models import Facility, User
from clinic.accounts.roles import PERMISSIONS, Role, role_may
from clinic.audit.models import AuditEvent
from patients.models import Patient


def test_healthz_reports_database_and_broker(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_BROKER_TRANSPORT_OPTIONS={})
def test_healthz_is_503_when_the_broker_is_down(db):
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "down"


def test_schema_and_docs_are_served(db):
    schema = APIClient().get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/patients/" in schema.content
    docs = Client().get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    # served from our own static files, never a CDN (the closed network has none); a bare "cdn" substring can
    # occur by chance in the page's random CSRF token, so look for the hosts swagger-ui is published on
    page = docs.content.decode().lower()
    assert not [host for host in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com") if host in page]
    assert "/static/drf_spectacular_sidecar/" in page


def test_argon2id_parameters_meet_owasp_minimum():
    with override_settings(PASSWORD_HASHERS=["clinic.accounts.hashers.ClinicArgon2PasswordHasher"]):
        encoded = make_password("a long enough passphrase")
    assert encoded.startswith("argon2$argon2id$")
    decoded = ClinicArgon2PasswordHasher().decode(encoded)
    assert (decoded["memory_cost"], decoded["time_cost"], decoded["parallelism"]) == (19 * 1024, 2, 1)


PRINT_DEBUG = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def _run_settings(module: str, extra_env: dict) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update({"DJANGO_SETTINGS_MODULE": module, **extra_env})
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _run_settings("clinic.settings.production", {})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_starts_with_a_secret_key_and_debug_off():
    result = _run_settings("clinic.settings.production", {"DJANGO_SECRET_KEY": "x" * 60})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_role_table_fails_closed():
    assert not role_may(None, "patient.view")
    assert not role_may("janitor", "patient.view")
    assert not role_may(Role.NURSE, "no.such.action")
    assert role_may(Role.NURSE, "patient.view")
    assert set(PERMISSIONS) == set(Role)


def test_seed_demo_is_idempotent_and_its_logins_work(db):
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    counts = (Facility.objects.count(), User.objects.count(), Patient.objects.count())
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert (Facility.objects.count(), User.objects.count(), Patient.objects.count()) == counts
    assert set(Facility.objects.values_list("name", flat=True)) >= {"Demo Recovery Center", "Other Clinic"}
    roles = dict(User.objects.values_list("username", "role"))
    assert roles["physician"] == "physician"
    assert roles["casemanager"] == "case_manager"
    assert roles["frontdesk"] == "front_desk"
    assert roles["clinicadmin"] == "clinic_admin"
    assert roles["othernurse"] == "nurse"
    assert roles["patient"] == "patient"
    for username in ("nurse", "patient"):
        response = APIClient().post(
            "/api/v1/auth/token/", {"username": username, "password": "demo-pass-123"}, format="json"
        )
        assert response.status_code == 200, username
    assert Patient.objects.get(user__username="patient").facility.name == "Demo Recovery Center"
    # staff reminders and alerts need a work address to reach the outbox in `make run`
    assert User.objects.get(username="physician").email == "physician@demo-clinic.example"


@pytest.fixture
def admin_client():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def test_admin_patient_list_is_scoped_and_audited(staff, other_staff, patient, admin_client):
    from patients.tests.factories import PatientFactory

    outsider = PatientFactory(facility=other_staff["nurse"].facilities.first())
    response = admin_client(staff["nurse"]).get("/admin/patients/patient/")
    assert response.status_code == 200
    assert patient.mrn.encode() in response.content
    assert outsider.mrn.encode() not in response.content
    assert AuditEvent.objects.filter(action="list", source="admin", patient_id=patient.id).exists()


def test_admin_detail_of_another_facility_is_not_found(staff, other_staff, patient, admin_client):
    response = admin_client(other_staff["nurse"]).get(f"/admin/patients/patient/{patient.id}/change/")
    assert response.status_code == 302  # Django admin redirects a missing object to the index with a message
    assert not AuditEvent.objects.filter(patient_id=patient.id).exists()


def test_admin_change_form_read_is_audited(staff, patient, admin_client):
    response = admin_client(staff["nurse"]).get(f"/admin/patients/patient/{patient.id}/change/")
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="view", source="admin", patient_id=patient.id).exists()


def test_admin_is_closed_to_patients_and_to_roles_without_the_action(patient, staff, admin_client):
    assert admin_client(patient.user).get("/admin/patients/patient/").status_code == 302
    assert admin_client(staff["clinic_admin"]).get("/admin/audit/auditevent/").status_code == 200
    assert admin_client(staff["nurse"]).get("/admin/audit/auditevent/").status_code == 403
