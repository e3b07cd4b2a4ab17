"""Dispatching and sending: at-least-once execution with effects that happen once.

1. The dispatcher (beat, every minute) claims due reminders in batches with SELECT ... FOR UPDATE SKIP LOCKED,
   gives each a lease (`claimed_until`), commits, then enqueues one send task per reminder. Two dispatchers
   never claim the same row; a crashed worker's claims run out and are taken again.
2. A send task carries the reminder id and the attempt count it was claimed at. It re-checks everything
   (status, consent, address, quiet hours), then starts its attempt with one conditional UPDATE
   (`attempts = n + 1 WHERE attempts = n`): of any number of copies of the message, exactly one starts.
   The network call runs outside any transaction; the result is recorded with another conditional UPDATE.
3. A crash after delivery but before recording leaves the reminder `scheduled`; it is taken again when the
   send lease runs out and delivered with the same idempotency key, which the backend refuses to deliver twice.
4. Failures back off exponentially by moving `deliver_after` in the database (never a countdown on the
   broker); after the last attempt the reminder is `failed` and the failure handlers run after commit.
"""

import logging
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clinic.audit.services import audit_record

from .backends import DeliveryError, Message, backend_for
from .conf import NotificationSettings, notification_settings
from .discretion import indiscretions
from .localtime import quiet_hours_end
from .models import Reminder
from .recipients import Recipient, resolve_recipient
from .services import notify_delivery_failure
from .templates import has_expired, render

logger = logging.getLogger(__name__)

Status = Reminder.Status


def due_reminders(now: datetime):
    """The due scan: waiting rows whose time has come and whose claim, if any, has run out."""
    return (
        Reminder.objects.filter(status=Status.SCHEDULED, deliver_after__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("deliver_after")
    )


def enqueue_sends(rows) -> None:
    """Publish one send task per (reminder id, attempts) claimed; nothing with an ETA or a countdown."""
    from .tasks import reminder_send

    with reminder_send.app.producer_or_acquire() as producer:
        for reminder_id, attempts in rows:
            reminder_send.apply_async(args=[str(reminder_id), attempts], producer=producer)


@transaction.atomic
def _claim_batch(config: NotificationSettings) -> list[tuple]:
    now = timezone.now()
    rows = list(
        due_reminders(now).select_for_update(skip_locked=True).values_list("id", "attempts")[: config.batch_size]
    )
    if rows:
        Reminder.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            claimed_until=now + timedelta(seconds=config.claim_lease_seconds)
        )
        transaction.on_commit(lambda: enqueue_sends(rows))
    return rows


def reminders_claim_due() -> int:
    """Claim every due reminder, batch by batch, and enqueue their sends. Returns how many were claimed."""
    config = notification_settings()
    started = time.monotonic()
    total = 0
    while True:
        claimed = len(_claim_batch(config))
        total += claimed
        if claimed < config.batch_size or time.monotonic() - started > config.dispatch_seconds:
            return total


def _suppression_reason(reminder: Reminder, recipient: Recipient, now: datetime) -> str | None:
    reasons = Reminder.SuppressedReason
    if has_expired(reminder.kind, reminder.context, now):
        return reasons.EXPIRED
    if not recipient.reachable:
        return reasons.RECIPIENT_INACTIVE
    if reminder.is_for_patient and reminder.channel not in recipient.consented_channels:
        return reasons.NO_CONSENT
    if not recipient.address(reminder.channel):
        return reasons.NO_ADDRESS
    return None


def _pending(reminder: Reminder, attempts: int):
    return Reminder.objects.filter(pk=reminder.pk, status=Status.SCHEDULED, attempts=attempts)


@transaction.atomic
def _suppress(reminder: Reminder, attempts: int, reason: str) -> None:
    if _pending(reminder, attempts).update(
        status=Status.SUPPRESSED, suppressed_reason=reason, claimed_until=None, updated_at=timezone.now()
    ):
        audit_record(actor=None, action="suppress", instance=reminder, detail={"reason": reason})


def _defer(reminder: Reminder, attempts: int, until: datetime) -> None:
    _pending(reminder, attempts).update(deliver_after=until, claimed_until=None, updated_at=timezone.now())


def _begin_attempt(reminder: Reminder, attempt: int, now: datetime, config: NotificationSettings) -> bool:
    return bool(
        _pending(reminder, attempt)
        .filter(deliver_after__lte=now)
        .update(
            attempts=attempt + 1,
            claimed_until=now + timedelta(seconds=config.send_lease_seconds),
            updated_at=now,
        )
    )


@transaction.atomic
def _record_sent(reminder: Reminder, attempts: int, *, duplicate: bool) -> bool:
    now = timezone.now()
    # A reminder cancelled while its message was already on the way is recorded as what it became: sent.
    marked = Reminder.objects.filter(
        pk=reminder.pk, attempts=attempts, status__in=[Status.SCHEDULED, Status.CANCELLED]
    ).update(status=Status.SENT, sent_at=now, claimed_until=None, last_error="", updated_at=now)
    if marked:
        audit_record(
            actor=None,
            action="deliver",
            instance=reminder,
            detail={"channel": reminder.channel, "attempt": attempts, "already_delivered": duplicate},
        )
    return bool(marked)


@transaction.atomic
def _record_failure(reminder: Reminder, attempts: int, code: str, *, final: bool, config: NotificationSettings) -> str:
    now = timezone.now()
    if final:
        if _pending(reminder, attempts).update(
            status=Status.FAILED, last_error=code, claimed_until=None, updated_at=now
        ):
            audit_record(actor=None, action="fail", instance=reminder, detail={"error": code, "attempts": attempts})
            transaction.on_commit(lambda: notify_delivery_failure(reminder.pk), robust=True)
        return "failed"
    delay = timedelta(seconds=config.backoff_seconds * 2 ** max(attempts - 1, 0))
    _pending(reminder, attempts).update(last_error=code, deliver_after=now + delay, claimed_until=None, updated_at=now)
    return "retry"


def reminder_deliver(*, reminder_id, attempt: int) -> str:
    """Send one reminder claimed at `attempt` attempts. Returns what happened (for logs and tests):
    sent, retry, failed, suppressed, deferred, or stale (someone else has it, or it is no longer pending)."""
    config = notification_settings()
    reminder = Reminder.objects.select_related("facility", "patient", "staff").filter(pk=reminder_id).first()
    now = timezone.now()
    if reminder is None or reminder.status != Status.SCHEDULED or reminder.attempts != attempt:
        return "stale"
    if reminder.deliver_after > now:
        return "stale"
    if attempt >= config.max_attempts:
        # Its last attempt started but never finished: the worker died during it.
        return _record_failure(reminder, attempt, "worker_lost", final=True, config=config)

    recipient = resolve_recipient(facility=reminder.facility, patient=reminder.patient, staff=reminder.staff)
    reason = _suppression_reason(reminder, recipient, now)
    if reason:
        _suppress(reminder, attempt, reason)
        return "suppressed"
    quiet_until = quiet_hours_end(now, recipient.timezone, recipient.quiet_hours_start, recipient.quiet_hours_end)
    if quiet_until is not None:
        _defer(reminder, attempt, quiet_until)
        return "deferred"
    if not _begin_attempt(reminder, attempt, now, config):
        return "stale"

    attempts = attempt + 1
    try:
        subject, text = render(reminder.kind, reminder.context, zone=recipient.timezone, now=now)
        if indiscretions(f"{subject}\n{text}", also=(reminder.facility.name,)):
            raise DeliveryError("indiscreet_text", permanent=True)
        message = Message(
            reminder_id=str(reminder.pk),
            idempotency_key=reminder.idempotency_key,
            channel=reminder.channel,
            to=recipient.address(reminder.channel),
            subject=subject,
            text=text,
        )
        result = backend_for(reminder.channel, config).send(message)
    except DeliveryError as error:
        final = error.permanent or attempts >= config.max_attempts
        return _record_failure(reminder, attempts, error.code, final=final, config=config)
    except Exception as error:  # noqa: BLE001 - any crash of a backend or template is a failed attempt
        logger.warning("Reminder %s attempt %s raised %s", reminder.pk, attempts, type(error).__name__)
        code = f"error_{type(error).__name__}"
        return _record_failure(reminder, attempts, code, final=attempts >= config.max_attempts, config=config)
    if not _record_sent(reminder, attempts, duplicate=result.duplicate):
        logger.warning("Reminder %s was delivered but changed meanwhile; not recorded as sent", reminder.pk)
    return "sent"
