"""Alerts reach people: a newly raised alert schedules one staff reminder, due at once, for each person it is
for, after the commit; the message says only that there is an alert; acknowledging it first cancels what has
not gone out; re-runs remind nobody twice; a failing reminder never loops into new alerts, and a failing
listener never breaks the request that raised the alert.

The broker is the one thing outside the system: sends published after commit wait in `broker` until `deliver`
works them off in-process, as a worker would, and runs the dispatcher as beat does."""

import datetime
import logging

import pytest
import time_machine

from clinic.accounts.roles import Role
from clinic.notifications import delivery
from clinic.notifications import tasks as notification_tasks
from clinic.notifications.backends import DeliveryError, NotificationBackend
from clinic.notifications.discretion import indiscretions
from clinic.notifications.models import Reminder
from clinic.notifications.tests import conftest as notifications_fixtures
from clinic.notifications.tests.conftest import configure
from treatment import integrations, services, stages
from treatment.detox import services as detox_services
from treatment.detox import tasks as detox_tasks
from treatment.detox.models import ObservationRound
from treatment.models import Alert, Stage

from .conftest import responses_totalling

# The words, restated so the test does not trust the module it checks.
FORBIDDEN = ["rehab", "detox", "addiction", "kratom", "withdrawal", "opioid", "alcohol", "substance"]

# The engine's file backend at a fresh path per test, and its outbox.
notifications_settings = notifications_fixtures.notifications_settings
outbox = notifications_fixtures.outbox
pytestmark = pytest.mark.usefixtures("notifications_settings")


@pytest.fixture
def broker(monkeypatch):
    """The sends published after commit (lists of [reminder id, attempts]), held here instead of in Redis."""
    published: list = []
    monkeypatch.setattr(delivery, "enqueue_sends", published.extend)
    return published


@pytest.fixture
def deliver(broker, django_capture_on_commit_callbacks):
    """A worker takes the published sends, beat runs the dispatcher, and the worker takes what it claimed."""

    def work_off() -> None:
        while broker:
            claims = list(broker)
            broker.clear()
            with django_capture_on_commit_callbacks(execute=True):
                notification_tasks.reminders_send.apply(args=[claims]).get()

    def run() -> None:
        work_off()
        with django_capture_on_commit_callbacks(execute=True):
            notification_tasks.reminders_dispatch_due.apply().get()
        work_off()

    return run


@pytest.fixture
def committed(django_capture_on_commit_callbacks, broker):
    """Run a block and then what it deferred to its commit (the alert listeners among it)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def with_email(staff):
    for person in staff.values():
        person.email = f"{person.username}@clinic.example"
        person.save(update_fields=["email"])
    return staff


def post_cows(client, episode, total: int):
    body = {"episode": str(episode.pk), "instrument": "cows", "responses": responses_totalling("cows", total)}
    return client.post("/api/v1/observations/", body, format="json")


def alert_reminders():
    return Reminder.objects.filter(kind=Reminder.Kind.ALERT)


def reminded(status=Reminder.Status.SCHEDULED) -> set:
    return set(alert_reminders().filter(status=status).values_list("staff__username", flat=True))


def test_cows_25_reminds_the_episodes_physician_once_with_a_discreet_email(
    with_email, make_staff, open_episode, patient, api, committed, deliver, outbox
):
    physician = with_email["physician"]
    make_staff(Role.PHYSICIAN, username="second_physician", email="second@clinic.example")
    episode = open_episode(patient, physician=physician)
    with committed():
        response = post_cows(api(with_email["nurse"]), episode, 25)
    assert response.status_code == 201, response.content
    alert = Alert.objects.get()
    reminder = alert_reminders().get()
    assert (reminder.staff, reminder.status, reminder.channel) == (physician, "scheduled", "email")
    assert (reminder.subject_type, reminder.subject_id) == ("treatment.alert", str(alert.pk))
    assert reminder.facility == patient.facility

    deliver()
    [line] = outbox.lines()
    assert (line["reminder_id"], line["to"], line["channel"]) == (str(reminder.pk), physician.email, "email")
    message = f"{line['subject']}\n{line['text']}"
    assert line["subject"] == "New alert"
    for secret in (patient.first_name, patient.last_name, patient.mrn, patient.facility.name, *FORBIDDEN):
        assert secret.lower() not in message.lower(), secret
    assert indiscretions(message, also=(patient.facility.name,)) == []
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT


def test_cows_24_reminds_nobody(with_email, open_episode, patient, api, committed, deliver, outbox):
    episode = open_episode(patient, physician=with_email["physician"])
    with committed():
        assert post_cows(api(with_email["nurse"]), episode, 24).status_code == 201
    assert not Alert.objects.exists()
    assert not alert_reminders().exists()
    deliver()
    assert outbox.lines() == []


def test_an_alert_for_a_role_reminds_each_active_member_of_it_at_the_facility_only(
    with_email, make_staff, other_staff, open_episode, patient, api, committed, deliver, outbox
):
    make_staff(Role.PHYSICIAN, username="second_physician", email="second@clinic.example")
    make_staff(Role.PHYSICIAN, username="retired_physician", email="retired@clinic.example", is_active=False)
    episode = open_episode(patient)  # no physician assigned: the alert goes to the facility's physicians
    with committed():
        post_cows(api(with_email["nurse"]), episode, 25)
    alert = Alert.objects.get()
    assert (alert.target_user, alert.target_role) == (None, Role.PHYSICIAN)
    assert reminded() == {"physician", "second_physician"}

    deliver()
    assert sorted(line["to"] for line in outbox.lines()) == ["physician@clinic.example", "second@clinic.example"]


def test_a_named_person_no_longer_on_duty_leaves_the_alert_to_their_role(
    staff, make_staff, patient, facility, committed
):
    departed = make_staff(Role.CASE_MANAGER, username="departed")
    departed.facilities.remove(facility)
    with committed():
        services.alert_raise(
            patient=patient, kind="reminder_failed", severity="medium", reason="A reminder was not delivered.",
            target_role=Role.CASE_MANAGER, target_user=departed,
        )  # fmt: skip
    assert reminded() == {"case_manager"}


def test_an_alert_naming_only_a_person_who_left_reminds_nobody_and_says_so(
    staff, make_staff, patient, facility, caplog, committed
):
    departed = make_staff(Role.PHYSICIAN, username="departed", is_active=False)
    with caplog.at_level(logging.WARNING, logger="treatment.integrations"), committed():
        alert = services.alert_raise(patient=patient, kind="x", severity="high", reason="r", target_user=departed)
    assert not alert_reminders().exists()
    assert [record.getMessage() for record in caplog.records] == [
        f"Alert {alert.pk}: nobody on duty to remind; it waits on the dashboard"
    ]


def test_acknowledging_the_alert_before_dispatch_cancels_its_reminders(
    with_email, make_staff, open_episode, patient, api, committed, deliver, outbox
):
    make_staff(Role.PHYSICIAN, username="second_physician", email="second@clinic.example")
    episode = open_episode(patient)
    with committed():
        post_cows(api(with_email["nurse"]), episode, 25)
    alert = Alert.objects.get()
    assert reminded() == {"physician", "second_physician"}

    response = api(with_email["physician"]).post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert response.status_code == 200, response.content
    assert reminded() == set()
    assert reminded(Reminder.Status.CANCELLED) == {"physician", "second_physician"}

    deliver()  # the sends already published find nothing left to send
    assert outbox.lines() == []


def test_the_listener_running_again_reminds_nobody_twice(staff, make_staff, patient, committed):
    with committed():
        alert = services.alert_raise(
            patient=patient, kind="x", severity="high", reason="Something to act on.", target_role=Role.NURSE
        )
    assert reminded() == {"nurse"}
    integrations.remind_staff_of_new_alert(alert.pk)
    integrations.remind_staff_of_new_alert(alert.pk)
    assert alert_reminders().count() == 1

    make_staff(Role.NURSE, username="new_nurse")  # joined since: a re-run reminds only whoever was left out
    integrations.remind_staff_of_new_alert(alert.pk)
    assert reminded() == {"nurse", "new_nurse"}
    assert alert_reminders().count() == 2


def test_an_acknowledged_alert_is_not_reminded_of(staff, patient, committed):
    alert = services.alert_raise(patient=patient, kind="x", severity="low", reason="r", target_role=Role.NURSE)
    services.alert_acknowledge(actor=staff["nurse"], alert=alert)
    integrations.remind_staff_of_new_alert(alert.pk)
    assert not alert_reminders().exists()


def test_an_overdue_round_from_the_beat_task_reminds_the_episodes_nurse(
    with_email, open_episode, decide, patient, committed, deliver, outbox
):
    nurse, physician = with_email["nurse"], with_email["physician"]
    stages.register_transition_handler(Stage.DETOX, detox_services.on_detox_entered)  # set aside in these tests
    with time_machine.travel(datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC), tick=False) as clock:
        episode = open_episode(patient, nurse=nurse, physician=physician)
        decide(episode)
        services.episode_transition(actor=physician, episode=episode, to=Stage.DETOX)
        due_at = ObservationRound.objects.get(episode=episode).due_at
        clock.move_to(due_at + datetime.timedelta(minutes=30))
        with committed():
            assert detox_tasks.detox_rounds_flag_overdue.apply().get() == 1
        alert = Alert.objects.get(kind="observation_round_overdue")
        reminder = alert_reminders().get()
        assert (reminder.staff, reminder.subject_id) == (nurse, str(alert.pk))

        deliver()
    assert [line["to"] for line in outbox.lines() if line["reminder_id"] == str(reminder.pk)] == [nurse.email]


class RefusingBackend(NotificationBackend):
    def send(self, message):
        raise DeliveryError("http_400", permanent=True)


def test_a_failed_alert_reminder_raises_no_new_alert(settings, with_email, patient, committed, deliver, outbox):
    configure(settings, CHANNEL_BACKENDS={"email": f"{__name__}.{RefusingBackend.__name__}"})
    with committed():
        services.alert_raise(
            patient=patient, kind="x", severity="high", reason="Something to act on.", target_user=with_email["nurse"]
        )
    deliver()
    assert reminded(Reminder.Status.FAILED) == {"nurse"}
    assert Alert.objects.count() == 1
    assert alert_reminders().count() == 1


def test_a_failing_listener_never_breaks_the_request(monkeypatch, caplog, staff, open_episode, patient, api, committed):
    def broken(**kwargs):
        raise RuntimeError(f"database went away while reminding about {patient.first_name}")

    monkeypatch.setattr(integrations, "reminder_schedule", broken)
    episode = open_episode(patient, physician=staff["physician"])
    with caplog.at_level(logging.WARNING, logger="treatment.integrations"), committed():
        response = post_cows(api(staff["nurse"]), episode, 25)
    assert response.status_code == 201, response.content
    alert = Alert.objects.get()
    assert not alert_reminders().exists()
    assert any(str(alert.pk) in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert patient.first_name not in record.getMessage()
        assert record.exc_info is None


@pytest.mark.parametrize("gone", ["deactivated", "left_the_facility"])
def test_a_severe_score_skips_a_physician_no_longer_on_duty_for_the_facilitys_physicians(
    gone, with_email, make_staff, facility, open_episode, patient, api, committed
):
    departed = make_staff(Role.PHYSICIAN, username="departed", email="departed@clinic.example")
    episode = open_episode(patient, physician=departed)
    if gone == "deactivated":
        departed.is_active = False
        departed.save(update_fields=["is_active"])
    else:
        departed.facilities.remove(facility)
    with committed():
        assert post_cows(api(with_email["nurse"]), episode, 25).status_code == 201
    alert = Alert.objects.get()
    assert (alert.target_user, alert.target_role) == (None, Role.PHYSICIAN)
    assert reminded() == {"physician"}
