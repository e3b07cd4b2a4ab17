"""The staff app's work lists in treatment: /api/v1/me/patients/ (care team) and /api/v1/me/alerts/."""

import pytest

from clinic.audit.models import AuditEvent
from patients.tests.factories import PatientFactory
from treatment.models import Stage

from ..factories import AlertFactory, EpisodeFactory

PATIENTS = "/api/v1/me/patients/"
ALERTS = "/api/v1/me/alerts/"


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_a_clinician_lists_the_patients_whose_care_team_they_are_on(facility, staff, api):
    nurse = staff["nurse"]
    mine = EpisodeFactory(patient=PatientFactory(facility=facility), nurse=nurse, case_manager=nurse)
    EpisodeFactory(patient=PatientFactory(facility=facility), nurse=staff["physician"])  # someone else's
    closed = EpisodeFactory(patient=PatientFactory(facility=facility), nurse=nurse)
    closed.stage, closed.discharge_reason = Stage.DISCHARGED, "completed"
    closed.closed_at = closed.opened_at
    closed.save()

    response = api(nurse).get(PATIENTS)

    assert ids(response) == {str(mine.patient_id)}
    row = response.json()["results"][0]
    assert row["episode"]["id"] == str(mine.pk)
    assert row["episode"]["my_roles"] == ["nurse", "case_manager"]
    assert AuditEvent.objects.filter(action="list", object_id=str(mine.patient_id), actor=nurse).exists()
    assert ids(api(nurse).get(PATIENTS, {"stage": mine.stage})) == {str(mine.patient_id)}
    assert ids(api(nurse).get(PATIENTS, {"stage": "aftercare"})) == set()


def test_another_facility_never_shows_even_when_named_on_the_team(facility, other_facility, staff, other_staff, api):
    """Scope first: a care-team slot naming someone does not open another facility's patient to them."""
    EpisodeFactory(patient=PatientFactory(facility=other_facility), nurse=staff["nurse"])
    EpisodeFactory(patient=PatientFactory(facility=facility), nurse=other_staff["nurse"])
    assert ids(api(staff["nurse"]).get(PATIENTS)) == set()
    assert ids(api(other_staff["nurse"]).get(PATIENTS)) == set()


def test_alerts_addressed_to_me_by_name_or_by_role(facility, staff, other_staff, api):
    physician = staff["physician"]
    patient = PatientFactory(facility=facility)
    named = AlertFactory(patient=patient, target_user=physician, target_role="")
    to_my_role = AlertFactory(patient=patient, target_role="physician")
    AlertFactory(patient=patient, target_role="physician", target_user=staff["nurse"])  # named someone else
    AlertFactory(patient=patient, target_role="nurse")
    acknowledged = AlertFactory(patient=patient, target_user=physician, target_role="")
    api(physician).post(f"/api/v1/alerts/{acknowledged.pk}/acknowledge/")

    response = api(physician).get(ALERTS)

    assert ids(response) == {str(named.pk), str(to_my_role.pk)}
    assert AuditEvent.objects.filter(action="list", object_id=str(named.pk), actor=physician).exists()
    assert ids(api(other_staff["physician"]).get(ALERTS)) == set()
    assert ids(api(physician).get(ALERTS, {"severity": "low"})) == set()


@pytest.mark.parametrize("url", [PATIENTS, ALERTS])
def test_patients_and_roles_without_the_work_get_403(url, patient, staff, api):
    assert api(patient.user).get(url).status_code == 403
    assert api(staff["front_desk"]).get(url).status_code == 403
    assert api(staff["clinic_admin"]).get(url).status_code == 403


@pytest.mark.parametrize(("url", "value"), [(PATIENTS, {"stage": "nowhere"}), (ALERTS, {"severity": "dire"})])
def test_a_bad_filter_is_a_400_naming_it(url, value, staff, api):
    response = api(staff["physician"]).get(url, value)
    assert response.status_code == 400
    assert set(value) <= set(response.json()["error"]["fields"])


def test_my_patients_cost_the_same_for_3_and_15_rows(facility, staff, assert_same_budget_for_3_and_15_rows):
    nurse = staff["nurse"]

    def make_row():
        EpisodeFactory(patient=PatientFactory(facility=facility), nurse=nurse)

    assert_same_budget_for_3_and_15_rows(nurse, PATIENTS, make_row, bound=8)


def test_my_alerts_cost_the_same_for_3_and_15_rows(facility, staff, assert_same_budget_for_3_and_15_rows):
    physician = staff["physician"]

    def make_row():
        AlertFactory(patient=PatientFactory(facility=facility), target_user=physician)

    assert_same_budget_for_3_and_15_rows(physician, ALERTS, make_row, bound=8)
