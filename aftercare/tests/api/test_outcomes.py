"""Outcome figures per episode and per facility: days since discharge to aftercare, check-in adherence, follow-ups
completed on time, relapses and readmissions; through the API and the admin page, with constant queries."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from aftercare import services
from aftercare.models import ProviderCheckIn
from clinic.audit.models import AuditEvent
from treatment.tests.factories import EpisodeFactory

from ..conftest import NOW, audited
from ..factories import CheckInFactory, ProviderCheckInFactory, RelapseFactory, RelapsePreventionPlanFactory

DAY = datetime.timedelta(days=1)
URL = "/api/v1/aftercare-outcomes/"
NEW_YORK = ZoneInfo("America/New_York")


def at_local(day: int, hour: int) -> datetime.datetime:
    return (datetime.datetime(2026, 3, 2, hour, tzinfo=NEW_YORK) + datetime.timedelta(days=day)).astimezone(
        datetime.UTC
    )


@pytest.fixture
def story(clock, patient, other_patient, enter_aftercare, team):
    """Both patients enter aftercare on day 0. The patient checks in on days 1, 2, 4 and 12, relapses on day 5,
    and has the 7-day follow-up on time; the other patient misses theirs and is readmitted on day 12.
    The clock ends on day 12 at 13:00 New York time."""
    mine, theirs = enter_aftercare(patient), enter_aftercare(other_patient)
    for day, hour in ((1, 20), (2, 20), (4, 20)):
        clock.move_to(at_local(day, hour))
        services.check_in_submit(actor=patient.user, patient=patient, craving=3, mood=6, used=False)
    clock.move_to(at_local(6, 12))
    services.relapse_record(
        actor=team["primary_counselor"], episode=mine, occurred_on=datetime.date(2026, 3, 7), substance="kratom"
    )
    clock.move_to(at_local(8, 12))
    first = ProviderCheckIn.objects.get(episode=mine, offset_days=7)
    services.provider_check_in_complete(actor=team["case_manager"], check_in=first, outcome="stable", note="Well.")
    clock.move_to(at_local(12, 11))
    services.provider_check_ins_mark_missed()
    services.check_in_submit(actor=patient.user, patient=patient, craving=2, mood=7, used=False)
    clock.move_to(at_local(12, 12))
    services.episode_readmit(actor=team["primary_counselor"], episode=theirs, reason="Relapse.")
    clock.move_to(at_local(12, 13))
    return mine, theirs


def test_per_episode_figures(story, staff, api):
    mine, theirs = story
    response = api(staff["counselor"]).get(URL)
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["results"]}
    assert set(rows) == {str(mine.pk), str(theirs.pk)}
    assert rows[str(mine.pk)] == {
        "id": str(mine.pk),
        "patient": str(mine.patient_id),
        "stage": "aftercare",
        "aftercare_started_at": "2026-03-02T14:00:00Z",
        "closed_at": None,
        "days_since_discharge": 12,
        "check_in_days": 4,
        "expected_check_in_days": 12,  # days 1-12: today counts, the patient has checked in
        "check_in_adherence": 0.333,
        "provider_check_ins_due": 1,
        "provider_check_ins_completed": 1,
        "provider_check_ins_on_time": 1,
        "provider_check_ins_missed": 0,
        "provider_on_time_rate": 1.0,
        "relapses": 1,
        "readmissions": 0,
    }
    other = rows[str(theirs.pk)]
    assert (other["stage"], other["check_in_days"], other["expected_check_in_days"]) == ("discharged", 0, 12)
    assert (other["provider_check_ins_due"], other["provider_check_ins_missed"]) == (1, 1)
    assert (other["provider_on_time_rate"], other["readmissions"], other["relapses"]) == (0.0, 1, 0)
    assert audited(action="list", model="treatment.episode", object_id=mine.pk)


def test_today_counts_only_once_the_patient_has_checked_in(clock, patient, enter_aftercare, staff, api):
    episode = enter_aftercare(patient)
    clock.move_to(at_local(3, 9))
    body = api(staff["counselor"]).get(f"{URL}{episode.pk}/").json()
    assert (body["check_in_days"], body["expected_check_in_days"], body["check_in_adherence"]) == (0, 2, 0.0)
    services.check_in_submit(actor=patient.user, patient=patient, craving=1, mood=8, used=False)
    body = api(staff["counselor"]).get(f"{URL}{episode.pk}/").json()
    assert (body["check_in_days"], body["expected_check_in_days"]) == (1, 3)


def test_no_adherence_before_a_full_day(clock, patient, enter_aftercare, staff, api):
    episode = enter_aftercare(patient)
    body = api(staff["counselor"]).get(f"{URL}{episode.pk}/").json()
    assert (body["expected_check_in_days"], body["check_in_adherence"], body["provider_on_time_rate"]) == (
        0,
        None,
        None,
    )


def test_per_facility_figures(story, facility, staff, api):
    response = api(staff["case_manager"]).get(f"{URL}facility/", {"facility": str(facility.pk)})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "facility": str(facility.pk),
        "episodes_followed": 2,
        "patients_in_aftercare": 1,
        "mean_days_since_discharge": 12.0,
        "check_in_days": 4,
        "expected_check_in_days": 24,
        "check_in_adherence": 0.167,
        "provider_check_ins_due": 2,
        "provider_check_ins_completed": 1,
        "provider_check_ins_on_time": 1,
        "provider_check_ins_missed": 1,
        "provider_on_time_rate": 0.5,
        "relapses": 1,
        "readmissions": 1,
        "readmission_rate": 0.5,
    }
    assert AuditEvent.objects.filter(
        action="view", model="aftercare.facility_outcome", facility_id=facility.pk, actor=staff["case_manager"]
    ).exists()


def test_who_sees_which_figures(story, facility, other_facility, staff, other_staff, patient, api):
    mine, _ = story
    admin = api(staff["clinic_admin"])
    assert admin.get(f"{URL}facility/", {"facility": str(facility.pk)}).status_code == 200
    assert admin.get(URL).status_code == 403  # the facility's totals, not the patients'
    assert api(patient.user).get(URL).status_code == 403
    assert api(patient.user).get(f"{URL}facility/", {"facility": str(facility.pk)}).status_code == 403
    outsider = api(other_staff["counselor"])
    assert outsider.get(URL).json()["results"] == []
    assert outsider.get(f"{URL}{mine.pk}/").status_code == 404
    assert outsider.get(f"{URL}facility/", {"facility": str(facility.pk)}).status_code == 404
    theirs = outsider.get(f"{URL}facility/", {"facility": str(other_facility.pk)}).json()
    assert (theirs["episodes_followed"], theirs["check_in_adherence"]) == (0, None)
    response = api(staff["counselor"]).get(f"{URL}facility/")
    assert (response.status_code, list(response.json()["error"]["fields"])) == (400, ["facility"])


def _aftercare_row(facility):
    episode = EpisodeFactory(patient__facility=facility, stage="aftercare")
    RelapsePreventionPlanFactory(episode=episode, aftercare_started_at=NOW - 20 * DAY)
    CheckInFactory(episode=episode, checked_in_at=NOW - 2 * DAY, local_date=(NOW - 2 * DAY).date())
    ProviderCheckInFactory(episode=episode, due_at=NOW - 13 * DAY, status="missed")
    RelapseFactory(episode=episode)


def test_the_list_costs_the_same_for_1_and_50_rows(clock, facility, staff, api, assert_list_queries_constant):
    assert_list_queries_constant(api(staff["counselor"]), URL, lambda: _aftercare_row(facility))


def test_the_facility_figures_cost_the_same_for_1_and_50_episodes(
    clock, facility, staff, api, django_assert_max_num_queries
):
    client = api(staff["counselor"])
    _aftercare_row(facility)
    with CaptureQueriesContext(connection) as one:
        assert client.get(f"{URL}facility/", {"facility": str(facility.pk)}).json()["episodes_followed"] == 1
    for _ in range(49):
        _aftercare_row(facility)
    with django_assert_max_num_queries(len(one)):
        assert client.get(f"{URL}facility/", {"facility": str(facility.pk)}).json()["episodes_followed"] == 50


# --- The admin page ------------------------------------------------------------------------------------

ADMIN_URL = "/admin/aftercare/aftercareoutcome/"


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_page_shows_the_figures_and_the_facility_totals(story, patient, staff):
    mine, _ = story
    response = admin_client(staff["counselor"]).get(ADMIN_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Follow-up check-ins completed on time" in page
    assert "50% (1/2; 1 missed)" in page  # facility totals
    assert "33% (4/12)" in page  # the patient's adherence
    assert AuditEvent.objects.filter(action="list", source="admin", patient_id=patient.pk).exists()


def test_the_admin_page_for_administrators_and_outsiders(story, patient, staff, other_staff):
    page = admin_client(staff["clinic_admin"]).get(ADMIN_URL)
    assert page.status_code == 200
    assert "50% (1/2; 1 missed)" in page.content.decode()
    assert patient.mrn not in page.content.decode()
    assert admin_client(staff["front_desk"]).get(ADMIN_URL).status_code == 403
    outsider = admin_client(other_staff["counselor"]).get(ADMIN_URL).content.decode()
    assert patient.mrn not in outsider
    assert "50% (1/2; 1 missed)" not in outsider


def test_the_admin_page_costs_the_same_for_1_and_50_rows(clock, facility, staff, django_assert_max_num_queries):
    client = admin_client(staff["counselor"])
    _aftercare_row(facility)
    with CaptureQueriesContext(connection) as one:
        assert client.get(ADMIN_URL).status_code == 200
    for _ in range(49):
        _aftercare_row(facility)
    with django_assert_max_num_queries(len(one)):
        assert client.get(ADMIN_URL).status_code == 200
