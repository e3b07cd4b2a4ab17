"""Treatment's plug-ins into earlier apps: the patients `stage` filter and alerts for failed reminders."""

from clinic.notifications.models import Reminder
from clinic.notifications.services import notify_delivery_failure
from clinic.notifications.tests.factories import ReminderFactory
from patients.tests.factories import PatientFactory
from treatment.models import Alert, Stage
from treatment.tests.factories import EpisodeFactory


def test_patients_filter_by_the_stage_of_their_open_episode(staff, facility, api):
    in_detox = EpisodeFactory(patient=PatientFactory(facility=facility), stage=Stage.DETOX).patient
    EpisodeFactory(patient=PatientFactory(facility=facility), stage=Stage.THERAPY)
    response = api(staff["nurse"]).get("/api/v1/patients/", {"stage": "detox"})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(in_detox.id)]
    assert api(staff["nurse"]).get("/api/v1/patients/", {"stage": "nowhere"}).status_code == 400


def test_a_failed_patient_reminder_alerts_the_case_manager_once(staff, facility):
    episode = EpisodeFactory(patient=PatientFactory(facility=facility), case_manager=staff["case_manager"])
    reminder = ReminderFactory(patient=episode.patient, status=Reminder.Status.FAILED)
    notify_delivery_failure(reminder.pk)
    notify_delivery_failure(reminder.pk)
    alert = Alert.objects.get(kind="reminder_failed")
    assert (alert.patient, alert.episode, alert.target_user) == (episode.patient, episode, staff["case_manager"])
    assert alert.target_role == "case_manager"
    assert episode.patient.first_name not in alert.reason


def test_a_failed_staff_reminder_raises_no_patient_alert(staff):
    reminder = ReminderFactory(patient=None, staff=staff["nurse"], kind=Reminder.Kind.GENERIC, context={})
    notify_delivery_failure(reminder.pk)
    assert not Alert.objects.filter(kind="reminder_failed").exists()
