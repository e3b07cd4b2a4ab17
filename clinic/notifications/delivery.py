"""Dispatching and sending: at-least-once execution with effects that happen once.

1. The dispatcher (beat, every minute) claims due reminders in batches with SELECT ... FOR UPDATE SKIP LOCKED,
   gives each a lease (`claimed_until`), commits, then enqueues one send task per chunk of claimed reminders
   (SEND_CHUNK_SIZE of them). Two dispatchers never claim the same row; a crashed worker's claims run out and
   are taken again.
2. A send task carries, for each reminder of its chunk, the reminder id and the attempt count it was claimed
   at. It loads them together and re-checks everything for each (status, consent, address, quiet hours), then
   starts the attempts of all the sendable ones with one conditional UPDATE (`attempts = n + 1 WHERE id = r
   AND attempts = n`, for every pair) that returns the rows it changed: of any number of copies of the
   message, exactly one starts each reminder's attempt, and a copy sends only the reminders it started.
   The network calls run outside any transaction; the results are recorded with another conditional UPDATE.
3. A crash after delivery but before recording leaves the reminder `scheduled`; it is taken again when the
   send lease runs out and delivered with the same idempotency key, which the backend refuses to deliver twice.
4. Failures back off exponentially by moving `deliver_after` in the database (never a countdown on the
   broker); after the last attempt the reminder is `failed` and the failure handlers run after commit.
5. A chunk stops starting messages once its time budget (shorter than the send lease and the task's time
   limit) is spent; the attempts it began but never tried are handed back for the next dispatcher run.
"""

import logging
import operator
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial, reduce

from django.db import connections, transaction
from django.db.models import Case, CharField, DateTimeField, F, Q, Value, When
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from clinic.audit.services import audit_record_many

from .backends import DeliveryError, Message, backend_for
from .conf import NotificationSettings, notification_settings
from .discretion import indiscretions
from .localtime import quiet_hours_end
from .models import Reminder
from .recipients import Recipient, resolve_recipients
from .services import notify_delivery_failure
from .templates import has_expired, render

logger = logging.getLogger(__name__)

Status = Reminder.Status
# How long a chunk may go on starting messages when its caller does not say (see tasks.SEND_BUDGET_SECONDS).
DEFAULT_SEND_BUDGET_SECONDS = 30.0


def due_reminders(now: datetime):
    """The due scan: waiting rows whose time has come and whose claim, if any, has run out."""
    return (
        Reminder.objects.filter(status=Status.SCHEDULED, deliver_after__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("deliver_after")
    )


def enqueue_sends(rows) -> None:
    """Publish one send task per chunk of (reminder id, attempts) claimed; nothing with an ETA or a countdown."""
    from .tasks import reminders_send

    size = notification_settings().send_chunk_size
    claims = [[str(reminder_id), attempts] for reminder_id, attempts in rows]
    with reminders_send.app.producer_or_acquire() as producer:
        for start in range(0, len(claims), size):
            reminders_send.apply_async(args=[claims[start : start + size]], producer=producer)


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


# Conditional updates of many rows at once


def _at_attempts(pairs) -> Q:
    """Rows at the attempt count given for each: (id = r AND attempts = n) for every (r, n) pair, written as
    one `attempts = n AND id IN (...)` per distinct n."""
    by_attempts: dict[int, list] = {}
    for pk, attempts in pairs:
        by_attempts.setdefault(attempts, []).append(pk)
    return reduce(operator.or_, (Q(attempts=attempts, pk__in=pks) for attempts, pks in by_attempts.items()))


def _pending(pairs):
    """The reminders still waiting at the attempt count given for each."""
    return Reminder.objects.filter(_at_attempts(pairs), status=Status.SCHEDULED)


def _per_row(values: dict, output_field):
    """A different value for each row of an UPDATE: CASE WHEN id = r THEN value ... END."""
    return Case(*(When(pk=pk, then=Value(value)) for pk, value in values.items()), output_field=output_field)


def _update_returning_pks(queryset, **values) -> set:
    """`queryset.update(**values)` that also returns the primary keys of the rows it changed, in one statement
    (UPDATE ... RETURNING, in PostgreSQL and in SQLite from 3.35). Django builds the statement, so the
    condition and the values are adapted to the database exactly as in `update()`."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    connection = connections[queryset.db]
    sql, params = query.get_compiler(queryset.db).as_sql()
    pk = queryset.model._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {connection.ops.quote_name(pk.column)}", params)
        return {pk.to_python(row[0]) for row in cursor.fetchall()}


# Deciding, per reminder


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


@dataclass(frozen=True)
class _Failure:
    reminder: Reminder
    attempts: int  # the attempt that failed
    code: str
    final: bool


def _failure(reminder: Reminder, attempts: int, error: Exception, config: NotificationSettings) -> _Failure:
    if isinstance(error, DeliveryError):
        final = error.permanent or attempts >= config.max_attempts
        return _Failure(reminder, attempts, error.code, final)
    # Any crash of a backend, a template or a check is a failed attempt, so a poison message ends `failed`.
    logger.warning("Reminder %s attempt %s raised %s", reminder.pk, attempts, type(error).__name__)
    return _Failure(reminder, attempts, f"error_{type(error).__name__}", attempts >= config.max_attempts)


# Recording, for many reminders at once


@transaction.atomic
def _suppress(decided: list[tuple[Reminder, str]], now: datetime) -> None:
    suppressed = _update_returning_pks(
        _pending((reminder.pk, reminder.attempts) for reminder, _ in decided),
        status=Status.SUPPRESSED,
        suppressed_reason=_per_row({reminder.pk: reason for reminder, reason in decided}, CharField()),
        claimed_until=None,
        updated_at=now,
    )
    audit_record_many(
        actor=None,
        action="suppress",
        entries=[(reminder, {"reason": reason}) for reminder, reason in decided if reminder.pk in suppressed],
    )


def _defer(decided: list[tuple[Reminder, datetime]], now: datetime) -> None:
    _pending((reminder.pk, reminder.attempts) for reminder, _ in decided).update(
        deliver_after=_per_row({reminder.pk: until for reminder, until in decided}, DateTimeField()),
        claimed_until=None,
        updated_at=now,
    )


def _begin_attempts(reminders: list[Reminder], now: datetime, config: NotificationSettings) -> set:
    """Start the next attempt of each reminder still at the attempt count it was loaded at; returns the
    primary keys of those started here (and so only here)."""
    return _update_returning_pks(
        _pending((reminder.pk, reminder.attempts) for reminder in reminders).filter(deliver_after__lte=now),
        attempts=F("attempts") + 1,
        claimed_until=now + timedelta(seconds=config.send_lease_seconds),
        updated_at=now,
    )


def _hand_back(started: list[tuple[Reminder, int]]) -> None:
    """Undo attempts begun but never tried, so the next dispatcher run takes these reminders again at once.
    Nothing was sent for them, so any copy may start them afresh."""
    _pending((reminder.pk, attempts) for reminder, attempts in started).update(
        attempts=F("attempts") - 1, claimed_until=None, updated_at=timezone.now()
    )


@transaction.atomic
def _record_sent(delivered: list[tuple[Reminder, int, bool]]) -> None:
    now = timezone.now()
    # A reminder cancelled while its message was already on the way is recorded as what it became: sent.
    marked = _update_returning_pks(
        Reminder.objects.filter(
            _at_attempts((reminder.pk, attempts) for reminder, attempts, _ in delivered),
            status__in=[Status.SCHEDULED, Status.CANCELLED],
        ),
        status=Status.SENT,
        sent_at=now,
        claimed_until=None,
        last_error="",
        updated_at=now,
    )
    audit_record_many(
        actor=None,
        action="deliver",
        entries=[
            (reminder, {"channel": reminder.channel, "attempt": attempts, "already_delivered": duplicate})
            for reminder, attempts, duplicate in delivered
            if reminder.pk in marked
        ],
    )
    for reminder, _, _ in delivered:
        if reminder.pk not in marked:
            logger.warning("Reminder %s was delivered but changed meanwhile; not recorded as sent", reminder.pk)


@transaction.atomic
def _record_failures(failures: list[_Failure], config: NotificationSettings) -> None:
    now = timezone.now()
    retried = [failure for failure in failures if not failure.final]
    if retried:
        _pending((failure.reminder.pk, failure.attempts) for failure in retried).update(
            last_error=_per_row({failure.reminder.pk: failure.code for failure in retried}, CharField()),
            deliver_after=_per_row(
                {
                    failure.reminder.pk: now
                    + timedelta(seconds=config.backoff_seconds * 2 ** max(failure.attempts - 1, 0))
                    for failure in retried
                },
                DateTimeField(),
            ),
            claimed_until=None,
            updated_at=now,
        )
    final = [failure for failure in failures if failure.final]
    if not final:
        return
    failed = _update_returning_pks(
        _pending((failure.reminder.pk, failure.attempts) for failure in final),
        status=Status.FAILED,
        last_error=_per_row({failure.reminder.pk: failure.code for failure in final}, CharField()),
        claimed_until=None,
        updated_at=now,
    )
    audit_record_many(
        actor=None,
        action="fail",
        entries=[
            (failure.reminder, {"error": failure.code, "attempts": failure.attempts})
            for failure in final
            if failure.reminder.pk in failed
        ],
    )
    for failure in final:
        if failure.reminder.pk in failed:
            transaction.on_commit(partial(notify_delivery_failure, failure.reminder.pk), robust=True)


# The send


def _message(reminder: Reminder, recipient: Recipient, now: datetime) -> Message:
    subject, text = render(reminder.kind, reminder.context, zone=recipient.timezone, now=now)
    if indiscretions(f"{subject}\n{text}", also=(reminder.facility.name,)):
        raise DeliveryError("indiscreet_text", permanent=True)
    return Message(
        reminder_id=str(reminder.pk),
        idempotency_key=reminder.idempotency_key,
        channel=reminder.channel,
        to=recipient.address(reminder.channel),
        subject=subject,
        text=text,
    )


def _send(
    messages: list[tuple[Reminder, int, Message]], config: NotificationSettings, deadline: float
) -> tuple[list, list, list]:
    """Send through each channel's backend: (delivered, failures, not tried)."""
    delivered, failures, untried = [], [], []
    by_channel: dict[str, list] = {}
    for item in messages:
        by_channel.setdefault(item[0].channel, []).append(item)
    for channel, items in by_channel.items():
        try:
            outcomes = backend_for(channel, config).send_many([message for _, _, message in items], deadline=deadline)
        except Exception as error:  # noqa: BLE001 - a backend that cannot even start fails each attempt
            outcomes = [error] * len(items)
        for (reminder, attempts, _), outcome in zip(items, outcomes, strict=True):
            if outcome is None:
                untried.append((reminder, attempts))
            elif isinstance(outcome, Exception):
                failures.append(_failure(reminder, attempts, outcome, config))
            else:
                delivered.append((reminder, attempts, outcome.duplicate))
    return delivered, failures, untried


def reminders_deliver(claims, *, budget_seconds: float = DEFAULT_SEND_BUDGET_SECONDS) -> dict[str, str]:
    """Send a chunk of claimed reminders, given as (reminder id, attempt count claimed at) pairs.

    Returns what happened to each, by reminder id (for logs and tests): sent, retry, failed, suppressed,
    deferred, handed_back (out of time before it was tried), or stale (someone else has it, or it is no
    longer pending). A constant number of queries whatever the size of the chunk.
    """
    config = notification_settings()
    deadline = time.monotonic() + min(budget_seconds, config.send_lease_seconds / 2)
    pk_field = Reminder._meta.pk
    claimed = {pk_field.to_python(reminder_id): int(attempt) for reminder_id, attempt in claims}
    outcomes = {str(pk): "stale" for pk in claimed}
    if not claimed:
        return outcomes
    now = timezone.now()
    reminders = [
        reminder
        for reminder in Reminder.objects.select_related("facility", "patient", "staff").filter(
            pk__in=list(claimed), status=Status.SCHEDULED
        )
        if reminder.attempts == claimed[reminder.pk] and reminder.deliver_after <= now
    ]

    failures: list[_Failure] = []
    checked = []
    for reminder in reminders:
        if reminder.attempts >= config.max_attempts:
            # Its last attempt started but never finished: the worker died during it.
            failures.append(_Failure(reminder, reminder.attempts, "worker_lost", final=True))
        else:
            checked.append(reminder)
    recipients = resolve_recipients(checked)
    suppressed, deferred, sendable, broken = [], [], [], {}
    for reminder in checked:
        recipient = recipients[reminder.pk]
        try:
            reason = _suppression_reason(reminder, recipient, now)
            quiet_until = (
                None
                if reason
                else quiet_hours_end(now, recipient.timezone, recipient.quiet_hours_start, recipient.quiet_hours_end)
            )
        except Exception as error:  # noqa: BLE001 - a check that crashes on one reminder fails its attempt only
            broken[reminder.pk] = error
            sendable.append(reminder)
            continue
        if reason:
            suppressed.append((reminder, reason))
        elif quiet_until is not None:
            deferred.append((reminder, quiet_until))
        else:
            sendable.append(reminder)
    if suppressed:
        _suppress(suppressed, now)
        outcomes.update((str(reminder.pk), "suppressed") for reminder, _ in suppressed)
    if deferred:
        _defer(deferred, now)
        outcomes.update((str(reminder.pk), "deferred") for reminder, _ in deferred)

    started = _begin_attempts(sendable, now, config) if sendable else set()
    messages = []
    for reminder in sendable:
        if reminder.pk not in started:
            continue
        attempts = reminder.attempts + 1
        error = broken.get(reminder.pk)
        if error is None:
            try:
                messages.append((reminder, attempts, _message(reminder, recipients[reminder.pk], now)))
            except Exception as crash:  # noqa: BLE001 - a template that crashes on one reminder fails its attempt only
                error = crash
        if error is not None:
            failures.append(_failure(reminder, attempts, error, config))
    delivered, send_failures, untried = _send(messages, config, deadline) if messages else ([], [], [])
    failures += send_failures

    if delivered:
        _record_sent(delivered)
        outcomes.update((str(reminder.pk), "sent") for reminder, _, _ in delivered)
    if failures:
        _record_failures(failures, config)
        outcomes.update((str(failure.reminder.pk), "failed" if failure.final else "retry") for failure in failures)
    if untried:
        _hand_back(untried)
        outcomes.update((str(reminder.pk), "handed_back") for reminder, _ in untried)
    return outcomes


def reminder_deliver(*, reminder_id, attempt: int) -> str:
    """Send one reminder claimed at `attempt` attempts (a chunk of one); returns what happened to it."""
    return reminders_deliver([(reminder_id, attempt)])[str(Reminder._meta.pk.to_python(reminder_id))]
