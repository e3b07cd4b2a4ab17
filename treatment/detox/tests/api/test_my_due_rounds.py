"""The staff app's rounds to do: /api/v1/me/due-rounds/ (open rounds of my episodes; for a nurse, also of
episodes with no nurse assigned)."""

import datetime

import pytest
from django.utils import timezone

from clinic.audit.models import AuditEvent
from patients.tests.factories import PatientFactory

from ..factories import ObservationRoundFactory

URL = "/api/v1/me/due-rounds/"


def rows(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def round_for(facility, *, due_in_hours: float = 1, **team):
    episode_team = {f"course__episode__{slot}": person for slot, person in team.items()}
    return ObservationRoundFactory(
        course__episode__patient=PatientFactory(facility=facility),
        due_at=timezone.now() + datetime.timedelta(hours=due_in_hours),
        **episode_team,
    )


def test_a_nurse_gets_their_rounds_and_the_unassigned_ones_soonest_first(facility, staff, api):
    nurse = staff["nurse"]
    later = round_for(facility, due_in_hours=3, nurse=nurse)
    overdue = round_for(facility, due_in_hours=-1, nurse=nurse)
    overdue.status, overdue.overdue_at = "overdue", timezone.now()
    overdue.save()
    unassigned = round_for(facility, due_in_hours=2)
    round_for(facility, nurse=staff["physician"])  # another nurse slot holder: not mine

    response = api(nurse).get(URL)

    assert rows(response) == [str(overdue.pk), str(unassigned.pk), str(later.pk)]
    assert AuditEvent.objects.filter(action="list", object_id=str(later.pk), actor=nurse).exists()
    assert rows(api(nurse).get(URL, {"status": "overdue"})) == [str(overdue.pk)]


def test_a_physician_gets_only_the_episodes_they_are_the_physician_of(facility, staff, api):
    mine = round_for(facility, physician=staff["physician"])
    round_for(facility)  # unassigned rounds are the nurses'
    assert rows(api(staff["physician"]).get(URL)) == [str(mine.pk)]


def test_recorded_rounds_and_other_facilities_do_not_show(facility, other_facility, staff, other_staff, api):
    done = round_for(facility, nurse=staff["nurse"])
    done.status = "cancelled"
    done.cancelled_at = timezone.now()
    done.save()
    round_for(other_facility, nurse=other_staff["nurse"])
    assert rows(api(staff["nurse"]).get(URL)) == []
    assert rows(api(other_staff["nurse"]).get(URL)) != [str(done.pk)]


@pytest.mark.parametrize("role", ["counselor", "case_manager", "front_desk", "clinic_admin"])
def test_roles_without_rounds_and_patients_get_403(role, patient, staff, api):
    assert api(staff[role]).get(URL).status_code == 403
    assert api(patient.user).get(URL).status_code == 403


def test_a_bad_filter_is_a_400_naming_it(staff, api):
    response = api(staff["nurse"]).get(URL, {"status": "completed"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_the_list_costs_the_same_for_3_and_15_rows(facility, staff, assert_same_budget_for_3_and_15_rows):
    nurse = staff["nurse"]
    assert_same_budget_for_3_and_15_rows(nurse, URL, lambda: round_for(facility, nurse=nurse), bound=8)


@pytest.mark.parametrize("gone", ["deactivated", "left_the_facility"])
def test_a_nurse_also_gets_the_rounds_of_a_nurse_no_longer_on_duty(
    gone, facility, other_facility, staff, api, make_staff
):
    away = make_staff("nurse")
    if gone == "deactivated":
        away.is_active = False
        away.save()
    else:
        away.facilities.set([other_facility])
    theirs = round_for(facility, nurse=away)
    on_duty_elsewhere = round_for(facility, nurse=make_staff("nurse"))

    listed = rows(api(staff["nurse"]).get(URL))

    assert str(theirs.pk) in listed
    assert str(on_duty_elsewhere.pk) not in listed
