import pytest
from django.test import Client

from clinic.audit.models import AuditEvent
from clinic.notifications.models import Reminder
from clinic.notifications.tests.factories import ReminderFactory

CHANGELIST = "/admin/notifications/reminder/"
Status = Reminder.Status

pytestmark = pytest.mark.usefixtures("notifications_settings")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def rows(patient, other_facility):
    from patients.tests.factories import PatientFactory

    return {
        "failed": ReminderFactory(patient=patient, status=Status.FAILED, attempts=5, last_error="http_503"),
        "suppressed": ReminderFactory(patient=patient, status=Status.SUPPRESSED, suppressed_reason="no_consent"),
        "scheduled": ReminderFactory(patient=patient),
        "elsewhere": ReminderFactory(patient=PatientFactory(facility=other_facility), status=Status.FAILED),
    }


def test_staff_see_their_facilitys_reminders_with_why_they_were_suppressed(staff, rows):
    response = client_for(staff["nurse"]).get(CHANGELIST)
    assert response.status_code == 200
    shown = {str(reminder.pk) for reminder in response.context["cl"].result_list}
    assert shown == {str(rows[name].pk) for name in ("failed", "suppressed", "scheduled")}
    assert "No opt-in for this channel" in response.content.decode()
    assert AuditEvent.objects.filter(action="list", actor=staff["nurse"], model="notifications.reminder").count() == 3


def test_filter_by_status(staff, rows):
    response = client_for(staff["nurse"]).get(CHANGELIST, {"status__exact": "failed"})
    assert [reminder.pk for reminder in response.context["cl"].result_list] == [rows["failed"].pk]


def test_search_by_subject(staff, patient):
    about = ReminderFactory(patient=patient, subject_type="scheduling.appointment", subject_id="a-77")
    ReminderFactory(patient=patient, subject_type="scheduling.appointment", subject_id="a-78")
    response = client_for(staff["nurse"]).get(CHANGELIST, {"q": "a-77"})
    assert [reminder.pk for reminder in response.context["cl"].result_list] == [about.pk]


def test_retry_action_goes_through_the_service(staff, rows):
    response = client_for(staff["front_desk"]).post(
        CHANGELIST,
        {"action": "retry_selected", "_selected_action": [str(rows["failed"].pk), str(rows["scheduled"].pk)]},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(message) for message in response.context["messages"]]
    assert "1 reminder(s) will be sent again." in messages
    assert "1 reminder(s) were not failed and were left alone." in messages
    rows["failed"].refresh_from_db()
    assert (rows["failed"].status, rows["failed"].attempts) == (Status.SCHEDULED, 0)
    assert AuditEvent.objects.filter(action="retry", object_id=str(rows["failed"].pk), source="admin").exists()


def test_the_change_form_is_read_only(staff, rows):
    client = client_for(staff["nurse"])
    url = f"{CHANGELIST}{rows['failed'].pk}/change/"
    response = client.get(url)
    assert response.status_code == 200
    assert "http_503" in response.content.decode()
    assert client.post(url, {"status": "sent"}).status_code == 403
    rows["failed"].refresh_from_db()
    assert rows["failed"].status == Status.FAILED


def test_other_facility_staff_cannot_see_or_retry(other_staff, rows):
    client = client_for(other_staff["nurse"])
    response = client.get(CHANGELIST)
    assert [reminder.pk for reminder in response.context["cl"].result_list] == [rows["elsewhere"].pk]
    response = client.post(
        CHANGELIST, {"action": "retry_selected", "_selected_action": [str(rows["failed"].pk)]}, follow=True
    )
    rows["failed"].refresh_from_db()
    assert rows["failed"].status == Status.FAILED
    assert client.get(f"{CHANGELIST}{rows['failed'].pk}/change/").status_code in (302, 404)


def test_patients_have_no_admin(patient, rows):
    response = client_for(patient.user).get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
