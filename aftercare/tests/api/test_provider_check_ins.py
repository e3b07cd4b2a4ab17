"""The follow-up check-ins through the API: staff list them, complete them with an outcome and a note, hand them
to another provider or move them; scoping, auditing and query counts."""

import datetime

import pytest

from aftercare.models import ProviderCheckIn
from clinic.notifications.models import Reminder
from treatment import services as treatment_services
from treatment.models import Stage
from treatment.tests.factories import EpisodeFactory

from ..conftest import NOW, audited
from ..factories import ProviderCheckInFactory

DAY = datetime.timedelta(days=1)
URL = "/api/v1/provider-check-ins/"


@pytest.fixture
def episode(clock, patient, enter_aftercare):
    return enter_aftercare(patient)


@pytest.fixture
def first(episode):
    return ProviderCheckIn.objects.filter(episode=episode).order_by("offset_days").first()


def pending_reminders(check_in):
    return Reminder.objects.filter(subject_id=str(check_in.pk), status="scheduled")


def test_staff_list_a_patients_check_ins(episode, patient, staff, other_staff, api):
    response = api(staff["case_manager"]).get(f"{URL}?patient={patient.pk}&status=scheduled")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert sorted(row["offset_days"] for row in rows) == [7, 30, 90, 180, 365]
    assert {row["provider"] for row in rows} == {staff["case_manager"].pk}
    assert audited(action="list", model="aftercare.providercheckin", object_id=rows[0]["id"])
    assert api(other_staff["case_manager"]).get(URL).json()["results"] == []
    assert api(patient.user).get(URL).status_code == 403
    assert api(staff["front_desk"]).get(URL).status_code == 403


def test_due_filters(episode, staff, api):
    rows = api(staff["nurse"]).get(URL, {"due_before": (NOW + 31 * DAY).isoformat()}).json()["results"]
    assert sorted(row["offset_days"] for row in rows) == [7, 30]


def test_the_list_costs_the_same_for_1_and_50_rows(clock, facility, staff, api, assert_list_queries_constant):
    episode = EpisodeFactory(patient__facility=facility)
    offsets = iter(range(1, 100))

    def make_row():
        ProviderCheckInFactory(episode=episode, provider=staff["case_manager"], offset_days=next(offsets))

    assert_list_queries_constant(api(staff["case_manager"]), URL, make_row)


# --- Completing ----------------------------------------------------------------------------------------


def test_the_provider_completes_it_with_an_outcome_and_a_note(episode, first, staff, clock, api):
    clock.move_to(first.due_at + datetime.timedelta(hours=2))
    response = api(staff["case_manager"]).post(
        f"{URL}{first.pk}/complete/", {"outcome": "at_risk", "note": "New job stress; booked a session."}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["outcome"], body["completed_by"]) == ("completed", "at_risk", staff["case_manager"].pk)
    assert body["completed_at"] == (first.due_at + datetime.timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    assert audited(action="complete", model="aftercare.providercheckin", object_id=first.pk)
    assert not pending_reminders(first).exists()


def test_a_check_in_held_yesterday_is_recorded_with_its_time(episode, first, staff, clock, api):
    clock.move_to(first.due_at + DAY)
    held = first.due_at + datetime.timedelta(hours=1)
    response = api(staff["nurse"]).post(
        f"{URL}{first.pk}/complete/",
        {"outcome": "stable", "note": "Phone call.", "completed_at": held.isoformat()},
        format="json",
    )
    assert response.status_code == 200
    assert ProviderCheckIn.objects.get(pk=first.pk).completed_at == held


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "fine", "note": "x"}, "outcome"),
        ({"outcome": "stable", "note": ""}, "note"),
        ({"outcome": "stable", "note": "x", "completed_at": "2026-03-05T00:00:00Z"}, "completed_at"),  # future
        ({"outcome": "stable", "note": "x", "completed_at": "2026-02-01T00:00:00Z"}, "completed_at"),  # too early
    ],
)
def test_invalid_completions_are_a_400(body, field, first, staff, api):
    response = api(staff["case_manager"]).post(f"{URL}{first.pk}/complete/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert ProviderCheckIn.objects.get(pk=first.pk).status == "scheduled"


def test_a_completed_or_cancelled_check_in_cannot_be_completed(episode, first, staff, team, api):
    client = api(staff["case_manager"])
    body = {"outcome": "stable", "note": "x"}
    assert client.post(f"{URL}{first.pk}/complete/", body, format="json").status_code == 200
    response = client.post(f"{URL}{first.pk}/complete/", body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "check_in_completed")
    treatment_services.episode_transition(
        actor=team["case_manager"], episode=episode, to=Stage.DISCHARGED, reason="Done.", category="completed"
    )
    later = ProviderCheckIn.objects.get(episode=episode, offset_days=30)
    response = client.post(f"{URL}{later.pk}/complete/", body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "check_in_cancelled")


def test_who_may_complete(first, staff, other_staff, patient, api):
    body = {"outcome": "stable", "note": "x"}
    assert api(staff["front_desk"]).post(f"{URL}{first.pk}/complete/", body, format="json").status_code == 403
    assert api(patient.user).post(f"{URL}{first.pk}/complete/", body, format="json").status_code == 403
    assert api(other_staff["case_manager"]).post(f"{URL}{first.pk}/complete/", body, format="json").status_code == 404
    assert ProviderCheckIn.objects.get(pk=first.pk).status == "scheduled"


# --- Handing over and moving ---------------------------------------------------------------------------


def test_handing_a_check_in_to_another_provider_moves_its_reminder(first, staff, api):
    response = api(staff["case_manager"]).patch(f"{URL}{first.pk}/", {"provider": staff["counselor"].pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["provider"] == staff["counselor"].pk
    [reminder] = pending_reminders(first)
    assert (reminder.staff, reminder.send_at) == (staff["counselor"], first.due_at - DAY)
    assert Reminder.objects.filter(subject_id=str(first.pk), status="cancelled", staff=staff["case_manager"]).exists()
    assert audited(action="update", model="aftercare.providercheckin", object_id=first.pk)


def test_moving_a_check_in_moves_its_grace_period_and_reminder(first, staff, api):
    later = first.due_at + 2 * DAY
    response = api(staff["counselor"]).patch(f"{URL}{first.pk}/", {"due_at": later.isoformat()}, format="json")
    assert response.status_code == 200
    first.refresh_from_db()
    assert (first.due_at, first.missed_after) == (later, later + 3 * DAY)
    assert pending_reminders(first).get().send_at == later - DAY


def test_handing_over_is_checked(first, staff, other_staff, api):
    client = api(staff["case_manager"])
    assert client.patch(f"{URL}{first.pk}/", {"provider": staff["front_desk"].pk}, format="json").status_code == 400
    response = client.patch(f"{URL}{first.pk}/", {"provider": other_staff["counselor"].pk}, format="json")
    assert response.status_code == 400  # not a staff member of the caller's facilities
    response = client.patch(f"{URL}{first.pk}/", {"due_at": (NOW - DAY).isoformat()}, format="json")
    assert response.status_code == 400
    assert api(staff["nurse"]).patch(f"{URL}{first.pk}/", {"due_at": NOW.isoformat()}, format="json").status_code == 403
    first.refresh_from_db()
    assert first.provider == staff["case_manager"]
