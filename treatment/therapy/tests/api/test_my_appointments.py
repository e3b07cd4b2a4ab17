"""The patient app's calendar: /api/v1/me/appointments/ (upcoming and past, only their own)."""

import datetime

import pytest
from django.utils import timezone

from clinic.audit.models import AuditEvent

from ..factories import AppointmentFactory

URL = "/api/v1/me/appointments/"


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_a_patient_lists_their_upcoming_and_past_appointments(patient, other_patient, api):
    now = timezone.now()
    upcoming = AppointmentFactory(patient=patient)
    past = AppointmentFactory(
        patient=patient, starts_at=now - datetime.timedelta(days=2), ends_at=now - datetime.timedelta(days=2, hours=-1)
    )
    AppointmentFactory(patient=other_patient)
    client = api(patient.user)

    response = client.get(URL)

    assert ids(response) == {str(upcoming.pk), str(past.pk)}
    assert "with_staff" not in response.json()["results"][0]  # the patient's view of an appointment
    assert response.json()["sync_position"]
    assert ids(client.get(URL, {"when": "upcoming"})) == {str(upcoming.pk)}
    assert ids(client.get(URL, {"when": "past"})) == {str(past.pk)}
    later = (now + datetime.timedelta(minutes=5)).isoformat()
    assert ids(client.get(URL, {"updated_since": later})) == set()
    assert AuditEvent.objects.filter(action="list", object_id=str(upcoming.pk), actor=patient.user).exists()


def test_staff_get_403_here_and_read_appointments_through_appointments(patient, staff, other_staff, api):
    AppointmentFactory(patient=patient)
    for user in (staff["front_desk"], staff["counselor"], other_staff["front_desk"]):
        assert api(user).get(URL).status_code == 403


@pytest.mark.parametrize(
    ("params", "field"), [({"when": "someday"}, "when"), ({"updated_since": "x"}, "updated_since")]
)
def test_a_bad_filter_is_a_400_naming_it(params, field, patient, api):
    response = api(patient.user).get(URL, params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_the_list_costs_the_same_for_3_and_15_rows(patient, staff, assert_same_budget_for_3_and_15_rows):
    def make_row():
        AppointmentFactory(patient=patient, with_staff=staff["counselor"])

    assert_same_budget_for_3_and_15_rows(patient.user, URL, make_row, bound=8)
