import io

import pytest
from django.core.management import call_command

from treatment.therapy.models import (
    Appointment,
    GroupAttendance,
    GroupNote,
    GroupSession,
    ProgressNote,
    TherapySession,
    TreatmentPlan,
)

pytestmark = pytest.mark.django_db


def counts():
    return [
        model.objects.count()
        for model in (
            TreatmentPlan,
            TherapySession,
            GroupSession,
            GroupAttendance,
            ProgressNote,
            GroupNote,
            Appointment,
        )
    ]


def test_seed_demo_creates_therapy_and_is_idempotent():
    call_command("seed_demo", stdout=io.StringIO())
    first = counts()
    plans, sessions, groups, places, notes, group_notes, appointments = first
    assert plans >= 1
    assert sessions == 2
    assert groups == 2
    assert places >= 2
    assert group_notes == 1
    assert notes >= 2
    assert TherapySession.objects.filter(status="attended", progress_notes__signed_at__isnull=False).count() == 1
    assert TherapySession.objects.filter(status="scheduled").count() == 1
    assert GroupNote.objects.get().is_signed
    login_patient = Appointment.objects.filter(patient__user__username="patient", kind="group_session")
    assert login_patient.filter(status="scheduled").exists()
    call_command("seed_demo", stdout=io.StringIO())
    assert counts() == first
