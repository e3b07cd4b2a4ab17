"""GET /detox-courses/ and PATCH /detox-courses/{id}/ (the round interval)."""

import pytest

from clinic.accounts.roles import Role
from treatment.detox.models import DetoxCourse

from ..conftest import audited, open_round
from ..factories import DetoxCourseFactory


def test_clinicians_read_the_course(course, nurse, physician, api):
    for user in (nurse, physician):
        response = api(user).get(f"/api/v1/detox-courses/?episode={course.episode_id}")
        assert response.status_code == 200
        (row,) = response.json()["results"]
        assert (row["id"], row["active"], row["round_interval_minutes"]) == (str(course.pk), True, 240)
        assert row["patient"] == str(course.episode.patient_id)
    assert audited(action="list", model="detox.detoxcourse", object_id=course.pk)
    assert api(nurse).get(f"/api/v1/detox-courses/{course.pk}/").status_code == 200
    assert audited(action="view", model="detox.detoxcourse", object_id=course.pk)


def test_a_physician_sets_the_round_interval(course, physician, api):
    response = api(physician).patch(
        f"/api/v1/detox-courses/{course.pk}/", {"round_interval_minutes": 120, "reason": "COWS rising."}
    )
    assert response.status_code == 200, response.content
    assert (response.json()["round_interval_minutes"], response.json()["interval_set_by"]) == (120, physician.pk)
    assert open_round(course).due_at == course.started_at + DetoxCourse(round_interval_minutes=120).round_interval
    assert audited(action="update", model="detox.detoxcourse", object_id=course.pk)


@pytest.mark.parametrize("value", [59, 721, "often"])
def test_the_interval_is_validated(value, course, physician, api):
    response = api(physician).patch(f"/api/v1/detox-courses/{course.pk}/", {"round_interval_minutes": value})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["round_interval_minutes"]


@pytest.mark.parametrize("role", [Role.NURSE, Role.COUNSELOR, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_only_physicians_set_the_interval(role, staff, course, api):
    response = api(staff[role]).patch(f"/api/v1/detox-courses/{course.pk}/", {"round_interval_minutes": 60})
    assert response.status_code == 403
    course.refresh_from_db()
    assert course.round_interval_minutes == 240


def test_other_facility_and_the_patient_get_nothing(course, other_staff, patient, api):
    patch = {"round_interval_minutes": 60}
    assert api(other_staff["physician"]).patch(f"/api/v1/detox-courses/{course.pk}/", patch).status_code == 404
    assert api(other_staff["physician"]).get("/api/v1/detox-courses/").json()["results"] == []
    assert api(patient.user).get(f"/api/v1/detox-courses/{course.pk}/").status_code == 403
    course.refresh_from_db()
    assert course.round_interval_minutes == 240


def test_an_ended_course_keeps_its_interval(episode, course, physician, api):
    from treatment import services as treatment_services

    treatment_services.episode_transition(actor=physician, episode=episode, to="therapy")
    response = api(physician).patch(f"/api/v1/detox-courses/{course.pk}/", {"round_interval_minutes": 60})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "detox_ended"


def test_the_course_list_costs_the_same_queries_for_1_and_50_rows(facility, nurse, api, assert_list_queries_constant):
    assert_list_queries_constant(
        api(nurse), "/api/v1/detox-courses/", lambda: DetoxCourseFactory(episode__patient__facility=facility)
    )
