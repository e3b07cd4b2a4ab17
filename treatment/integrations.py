"""How treatment plugs into the earlier apps at start-up (called from TreatmentConfig.ready)."""

import logging

from django.db import transaction
from django.utils import timezone

from clinic.accounts.models import User
from clinic.accounts.roles import Role
from clinic.notifications.models import Reminder
from clinic.notifications.services import register_delivery_failure_handler, reminder_schedule
from patients.extensions import register_stage_filter, register_transfer_guard

from .models import Alert, Stage

logger = logging.getLogger(__name__)

# The subject of the staff reminders that tell people of an alert (alert_acknowledge cancels those pending).
ALERT_SUBJECT = "treatment.alert"


def _patients_in_stage(patients, stage: str):
    return patients.filter(episodes__closed_at__isnull=True, episodes__stage=stage)


def alert_on_failed_patient_reminder(reminder) -> None:
    """A reminder that could not reach a patient after every retry needs a person to follow up."""
    from .services import alert_raise

    if reminder.patient_id is None:
        # Staff reminders, the alert reminders among them (an alert about an undelivered alert would loop):
        # the failure stays visible in the reminders list and admin, and the alert itself on the dashboard.
        return
    episode = reminder.patient.episodes.filter(closed_at__isnull=True).first()
    alert_raise(
        patient=reminder.patient,
        episode=episode,
        kind="reminder_failed",
        severity=Alert.Severity.MEDIUM,
        reason=f"A {reminder.get_kind_display().lower()} reminder could not be delivered by {reminder.channel}.",
        target_role=Role.CASE_MANAGER,
        target_user=episode.case_manager if episode else None,
        dedupe_key=f"reminder-failed:{reminder.pk}",
    )


def _on_duty(user: User, facility_id) -> bool:
    return user.is_active and facility_id in user.facility_ids()


def alert_recipients(alert: Alert) -> list[User]:
    """Who is told of `alert`: the person it names while they still work at the patient's facility, else
    every active member of its role there (nobody when it names only a person who has left)."""
    facility_id = alert.patient.facility_id
    if alert.target_user is not None and _on_duty(alert.target_user, facility_id):
        return [alert.target_user]
    if not alert.target_role or alert.target_role == Role.PATIENT:
        return []
    return list(
        User.objects.filter(role=alert.target_role, is_active=True, facilities=facility_id).order_by("pk").distinct()
    )


@transaction.atomic
def alert_remind_staff(alert_id) -> list[Reminder]:
    """Schedule one staff reminder, due now, for each person an open alert is for. Idempotent per (alert,
    person): the alert row is locked while those already reminded are looked up, so a re-run (or a
    concurrent one) adds nobody twice. Returns the reminders scheduled by this call."""
    alert = (
        Alert.objects.select_for_update(of=("self",))
        .select_related("patient__facility", "target_user")
        .filter(pk=alert_id)
        .first()
    )
    if alert is None or alert.acknowledged_at is not None:
        return []
    reminded = set(
        Reminder.objects.filter(
            subject_type=ALERT_SUBJECT, subject_id=str(alert.pk), kind=Reminder.Kind.ALERT
        ).values_list("staff_id", flat=True)
    )
    recipients = alert_recipients(alert)
    if not recipients:
        logger.warning("Alert %s: nobody on duty to remind; it waits on the dashboard", alert.pk)
    now = timezone.now()
    scheduled = []
    for person in recipients:
        if person.pk in reminded:
            continue
        try:
            scheduled.append(
                reminder_schedule(
                    facility=alert.patient.facility,
                    kind=Reminder.Kind.ALERT,
                    send_at=now,
                    staff=person,
                    subject=(ALERT_SUBJECT, alert.pk),
                )
            )
        except Exception as error:  # noqa: BLE001 - one person's reminder must not keep the others from theirs
            logger.warning("Alert %s: no reminder for user %s (%s)", alert.pk, person.pk, type(error).__name__)
    return scheduled


def remind_staff_of_new_alert(alert_id) -> None:
    """The alert listener: runs after the alert's commit, so the request that raised it has already
    succeeded; a failure here is logged (ids only) and never reaches that request."""
    try:
        alert_remind_staff(alert_id)
    except Exception as error:  # noqa: BLE001 - the alert stays on the dashboard either way
        logger.warning("Alert %s: staff reminders not scheduled (%s)", alert_id, type(error).__name__)


def open_episode_blocks_transfer(patient) -> str | None:
    """A patient in treatment moves only once the episode is closed (discharge as `transferred`), so its care
    team, rounds, orders and reminders never straddle two facilities."""
    if patient.episodes.filter(closed_at__isnull=True).exists():
        return "Discharge the open episode of care (as transferred) before moving the patient."
    return None


def connect() -> None:
    from .services import register_alert_listener

    register_stage_filter(_patients_in_stage, choices=Stage.values)
    register_transfer_guard(open_episode_blocks_transfer)
    register_delivery_failure_handler(alert_on_failed_patient_reminder)
    register_alert_listener(remind_staff_of_new_alert)
