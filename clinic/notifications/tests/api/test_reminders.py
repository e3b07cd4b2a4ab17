from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from clinic.audit.models import AuditEvent
from clinic.notifications.models import Reminder
from clinic.notifications.tests.factories import ReminderFactory

URL = "/api/v1/reminders/"
NOW = datetime(2026, 5, 11, 16, 0, tzinfo=UTC)
Status = Reminder.Status

pytestmark = pytest.mark.usefixtures("notifications_settings")


def detail(reminder) -> str:
    return f"{URL}{reminder.pk}/"


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def reminders(patient, other_patient, staff):
    return {
        "mine": ReminderFactory(patient=patient, send_at=NOW),
        "failed": ReminderFactory(
            patient=patient, kind="check_in_prompt", status=Status.FAILED, attempts=5, last_error="http_503", context={}
        ),
        "other_patients": ReminderFactory(patient=other_patient, channel="email"),
        "staff": ReminderFactory(patient=None, staff=staff["counselor"], kind="generic", channel="email", context={}),
    }


def test_staff_list_their_facilitys_reminders_with_delivery_status(api, staff, reminders):
    response = api(staff["front_desk"]).get(URL)
    assert ids(response) == {str(r.pk) for r in reminders.values()}
    row = next(row for row in response.json()["results"] if row["id"] == str(reminders["failed"].pk))
    assert row["status"] == "failed"
    assert row["attempts"] == 5
    assert row["last_error"] == "http_503"
    assert row["patient"] == str(reminders["failed"].patient_id)
    assert row["staff"] is None
    assert "context" not in row
    assert "idempotency_key" not in row
    assert (
        AuditEvent.objects.filter(action="list", actor=staff["front_desk"], model="notifications.reminder").count() == 4
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", {"failed"}),
        ("status=scheduled&status=failed", {"mine", "failed", "other_patients", "staff"}),
        ("kind=check_in_prompt", {"failed"}),
        ("channel=email", {"other_patients", "staff"}),
        ("patient={patient}", {"mine", "failed"}),
        ("staff={counselor}", {"staff"}),
    ],
)
def test_filters(api, staff, patient, reminders, query, expected):
    query = query.format(patient=patient.pk, counselor=staff["counselor"].pk)
    assert ids(api(staff["nurse"]).get(f"{URL}?{query}")) == {str(reminders[name].pk) for name in expected}


def test_updated_since(api, staff, patient):
    with time_machine.travel(NOW, tick=False):
        ReminderFactory(patient=patient)
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        recent = ReminderFactory(patient=patient)
    since = (NOW + timedelta(minutes=30)).isoformat()
    assert ids(api(staff["nurse"]).get(URL, {"updated_since": since})) == {str(recent.pk)}


def test_a_patient_sees_only_their_own_reminders(api, patient, reminders):
    assert ids(api(patient.user).get(URL)) == {str(reminders["mine"].pk), str(reminders["failed"].pk)}
    assert api(patient.user).get(detail(reminders["mine"])).status_code == 200
    assert api(patient.user).get(detail(reminders["other_patients"])).status_code == 404
    assert api(patient.user).get(detail(reminders["staff"])).status_code == 404


def test_other_facility_staff_see_nothing(api, other_staff, reminders):
    assert ids(api(other_staff["nurse"]).get(URL)) == set()
    assert api(other_staff["nurse"]).get(detail(reminders["mine"])).status_code == 404


def test_retrieve_is_audited(api, staff, reminders):
    response = api(staff["nurse"]).get(detail(reminders["mine"]))
    assert response.status_code == 200
    assert response.json()["id"] == str(reminders["mine"].pk)
    event = AuditEvent.objects.get(action="view", object_id=str(reminders["mine"].pk))
    assert (event.actor, event.patient_id) == (staff["nurse"], reminders["mine"].patient_id)


def test_anonymous_is_401(api, reminders):
    assert api().get(URL).status_code == 401


def test_staff_retry_a_failed_reminder(api, staff, reminders, django_capture_on_commit_callbacks):
    failed = reminders["failed"]
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks() as callbacks:
        response = api(staff["front_desk"]).post(f"{detail(failed)}retry/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["attempts"], body["last_error"]) == ("scheduled", 0, "")
    assert body["deliver_after"] == "2026-05-11T16:00:00Z"
    assert len(callbacks) == 1
    event = AuditEvent.objects.get(action="retry", object_id=str(failed.pk))
    assert (event.actor, event.patient_id, event.source) == (staff["front_desk"], failed.patient_id, "api")


def test_retrying_a_reminder_that_has_not_failed_is_a_conflict(api, staff, reminders):
    response = api(staff["nurse"]).post(f"{detail(reminders['mine'])}retry/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_failed"
    assert Reminder.objects.get(pk=reminders["mine"].pk).status == Status.SCHEDULED


def test_a_patient_cannot_retry_even_their_own(api, patient, reminders):
    response = api(patient.user).post(f"{detail(reminders['failed'])}retry/")
    assert response.status_code == 403
    assert Reminder.objects.get(pk=reminders["failed"].pk).status == Status.FAILED
    assert not AuditEvent.objects.filter(action="retry").exists()


def test_other_facility_staff_cannot_retry(api, other_staff, reminders):
    response = api(other_staff["front_desk"]).post(f"{detail(reminders['failed'])}retry/")
    assert response.status_code == 404
    assert Reminder.objects.get(pk=reminders["failed"].pk).status == Status.FAILED
    assert not AuditEvent.objects.filter(action="retry").exists()


def test_reminders_are_read_only_through_the_api(api, staff, reminders):
    client = api(staff["nurse"])
    before = Reminder.objects.count()
    # refused by the role check (no action is named for these) before the method is even looked at
    assert client.post(URL, {"kind": "generic"}, format="json").status_code in (403, 405)
    assert client.patch(detail(reminders["mine"]), {"status": "sent"}, format="json").status_code in (403, 405)
    assert client.delete(detail(reminders["mine"])).status_code in (403, 405)
    assert Reminder.objects.count() == before
    assert Reminder.objects.get(pk=reminders["mine"].pk).status == Status.SCHEDULED


def test_list_query_count_does_not_grow_with_the_page(api, staff, patient, django_assert_max_num_queries):
    ReminderFactory.create_batch(50, patient=patient)
    client = api(staff["nurse"])
    with django_assert_max_num_queries(6):
        assert len(client.get(URL, {"page_size": 1}).json()["results"]) == 1
    with django_assert_max_num_queries(6):
        assert len(client.get(URL, {"page_size": 50}).json()["results"]) == 50
