"""Public services other apps call to schedule and cancel reminders, and the staff's retry.

Domain apps call `reminder_schedule` inside the transaction that creates what the reminder is about, and
`reminder_cancel_for_subject` inside the one that cancels it, so a reminder never outlives (or precedes) its
subject. Nothing reaches the broker before commit: a reminder due at once is claimed in the same transaction
and enqueued on commit; every later one waits in the database for the dispatcher (clinic.notifications.delivery).
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.audit.services import audit_record
from clinic.errors import Conflict, ValidationFailed

from .conf import notification_settings
from .localtime import first_moment_outside_quiet_hours
from .models import Reminder
from .recipients import Recipient, resolve_recipient
from .templates import clean_context

logger = logging.getLogger(__name__)

# When a patient states no preference, the first consented channel with an address, in this order.
FALLBACK_CHANNELS = ("sms", "email", "push")

_failure_handlers: list[Callable[[Reminder], None]] = []


def register_delivery_failure_handler(handler: Callable[[Reminder], None]) -> None:
    """Call `handler(reminder)` after commit whenever a reminder ends `failed` (e.g. to alert staff)."""
    if handler not in _failure_handlers:
        _failure_handlers.append(handler)


def unregister_delivery_failure_handler(handler: Callable[[Reminder], None]) -> None:
    if handler in _failure_handlers:
        _failure_handlers.remove(handler)


def notify_delivery_failure(reminder_id) -> None:
    reminder = Reminder.objects.select_related("facility").get(pk=reminder_id)
    for handler in list(_failure_handlers):
        try:
            handler(reminder)
        except Exception:  # noqa: BLE001 - one broken handler must not hide the failure from the others
            logger.exception("Delivery failure handler %s failed for reminder %s", handler.__qualname__, reminder_id)


def _default_channel(recipient: Recipient) -> str | None:
    if recipient.preferred_channel in Reminder.Channel.values:
        return recipient.preferred_channel
    for channel in FALLBACK_CHANNELS:
        if channel in recipient.consented_channels and recipient.address(channel):
            return channel
    return None


def _check_recipient(*, facility: Facility, kind: str, patient, staff: User | None) -> dict:
    errors: dict[str, list[str]] = {}
    if (patient is None) == (staff is None):
        errors["patient"] = ["A reminder goes to exactly one patient or one staff member."]
    elif kind not in Reminder.Kind.values:
        errors["kind"] = ["Not a kind of reminder."]
    elif patient is not None:
        if kind not in Reminder.PATIENT_KINDS:
            errors["kind"] = ["This kind of reminder is for staff."]
        if patient.facility_id != facility.id:
            errors["patient"] = ["The patient is not at this facility."]
    else:
        if kind in Reminder.PATIENT_KINDS:
            errors["kind"] = ["This kind of reminder is for patients."]
        if facility.id not in staff.facility_ids():
            errors["staff"] = ["This staff member does not work at this facility."]
    return errors


def claim_for_immediate_send(reminder: Reminder, now: datetime) -> None:
    """Claim a reminder that is due now in the caller's transaction and enqueue it when that commits."""
    from .delivery import enqueue_sends

    reminder.claimed_until = now + timedelta(seconds=notification_settings().claim_lease_seconds)
    rows = [(reminder.pk, reminder.attempts)]
    # robust: the caller's data is already committed; if the broker is down, the claim simply runs out and
    # the dispatcher sends the reminder on one of its next runs.
    transaction.on_commit(lambda: enqueue_sends(rows), robust=True)


@transaction.atomic
def reminder_schedule(
    *,
    facility: Facility,
    kind: str,
    send_at: datetime,
    patient=None,
    staff: User | None = None,
    channel: str | None = None,
    subject: tuple[str, object] | None = None,
    context: dict | None = None,
    actor: User | None = None,
) -> Reminder:
    """Schedule a reminder to a patient or a staff member at `send_at` (aware), about `subject`
    (e.g. ("therapy.session", session.pk)), with template values such as {"at": ..., "provider": "R. Lee"}.

    The channel defaults to the patient's preferred channel (or their first consented one), or email for staff.
    Quiet hours move `deliver_after` past them now; consent, address and quiet hours are checked again at
    delivery, since consent can be revoked in between.
    """
    errors = _check_recipient(facility=facility, kind=kind, patient=patient, staff=staff)
    if timezone.is_naive(send_at):
        errors["send_at"] = ["An aware date and time is required."]
    if channel is not None and channel not in Reminder.Channel.values:
        errors["channel"] = ["Not a channel."]
    subject_type, subject_id = ("", "") if subject is None else (str(subject[0]), str(subject[1]))
    if len(subject_type) > 64 or len(subject_id) > 64:
        errors["subject"] = ["At most 64 characters for its type and its id."]
    if errors:
        raise ValidationFailed("The reminder is not valid.", fields=errors)
    context = clean_context(kind, context, withheld=(facility.name,))

    recipient = resolve_recipient(facility=facility, patient=patient, staff=staff)
    channel = channel or _default_channel(recipient)
    reminder = Reminder(
        facility=facility,
        patient=patient,
        staff=staff,
        kind=kind,
        channel=channel or "",
        send_at=send_at,
        deliver_after=first_moment_outside_quiet_hours(
            send_at, recipient.timezone, recipient.quiet_hours_start, recipient.quiet_hours_end
        ),
        idempotency_key=uuid.uuid4().hex,
        subject_type=subject_type,
        subject_id=subject_id,
        context=context,
    )
    if channel is None:
        reminder.status = Reminder.Status.SUPPRESSED
        reminder.suppressed_reason = Reminder.SuppressedReason.NO_CHANNEL
    now = timezone.now()
    if reminder.status == Reminder.Status.SCHEDULED and reminder.deliver_after <= now:
        claim_for_immediate_send(reminder, now)
    reminder.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=reminder, detail={"kind": kind, "channel": reminder.channel})
    return reminder


@transaction.atomic
def reminder_cancel_for_subject(
    *, subject_type: str, subject_id, kinds: Iterable[str] | None = None, actor: User | None = None
) -> int:
    """Cancel the pending reminders about a subject (an appointment cancelled, an episode ended). Returns how
    many were cancelled. Call it inside the transaction that changes the subject."""
    pending = Reminder.objects.select_for_update().filter(
        subject_type=subject_type, subject_id=str(subject_id), status=Reminder.Status.SCHEDULED
    )
    if kinds is not None:
        pending = pending.filter(kind__in=list(kinds))
    reminders = list(pending)
    if not reminders:
        return 0
    Reminder.objects.filter(pk__in=[reminder.pk for reminder in reminders]).update(
        status=Reminder.Status.CANCELLED, claimed_until=None, updated_at=timezone.now()
    )
    for reminder in reminders:
        audit_record(actor=actor, action="cancel", instance=reminder, detail={"subject_type": subject_type})
    return len(reminders)


@transaction.atomic
def reminder_retry(*, actor: User, reminder: Reminder) -> Reminder:
    """Send a failed reminder again (staff, from the API or the admin): a fresh set of attempts, from now."""
    reminder = (
        Reminder.objects.select_for_update(of=("self",))
        .select_related("facility", "patient", "staff")
        .get(pk=reminder.pk)
    )
    if reminder.status != Reminder.Status.FAILED:
        raise Conflict("Only a failed reminder can be retried.", code="not_failed")
    recipient = resolve_recipient(facility=reminder.facility, patient=reminder.patient, staff=reminder.staff)
    now = timezone.now()
    reminder.status = Reminder.Status.SCHEDULED
    reminder.attempts = 0
    reminder.deliver_after = first_moment_outside_quiet_hours(
        now, recipient.timezone, recipient.quiet_hours_start, recipient.quiet_hours_end
    )
    reminder.claimed_until = None
    if reminder.deliver_after <= now:
        claim_for_immediate_send(reminder, now)
    previous_error, reminder.last_error = reminder.last_error, ""
    reminder.save(update_fields=["status", "attempts", "deliver_after", "claimed_until", "last_error", "updated_at"])
    audit_record(actor=actor, action="retry", instance=reminder, detail={"previous_error": previous_error})
    return reminder
