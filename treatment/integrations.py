"""How treatment plugs into the earlier apps at start-up (called from TreatmentConfig.ready)."""

from clinic.accounts.roles import Role
from clinic.notifications.services import register_delivery_failure_handler
from patients.extensions import register_stage_filter, register_transfer_guard

from .models import Alert, Stage


def _patients_in_stage(patients, stage: str):
    return patients.filter(episodes__closed_at__isnull=True, episodes__stage=stage)


def alert_on_failed_patient_reminder(reminder) -> None:
    """A reminder that could not reach a patient after every retry needs a person to follow up."""
    from .services import alert_raise

    if reminder.patient_id is None:
        return  # staff reminders: the failure stays visible in the reminders list and admin
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


def open_episode_blocks_transfer(patient) -> str | None:
    """A patient in treatment moves only once the episode is closed (discharge as `transferred`), so its care
    team, rounds, orders and reminders never straddle two facilities."""
    if patient.episodes.filter(closed_at__isnull=True).exists():
        return "Discharge the open episode of care (as transferred) before moving the patient."
    return None


def connect() -> None:
    register_stage_filter(_patients_in_stage, choices=Stage.values)
    register_transfer_guard(open_episode_blocks_transfer)
    register_delivery_failure_handler(alert_on_failed_patient_reminder)
