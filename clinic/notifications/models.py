"""Reminders: what to tell whom, when, on which channel, and what became of it.

The database holds the future: a reminder waits here (status `scheduled`) until its `deliver_after`, and only
then is it claimed by the dispatcher and handed to the broker (see clinic.notifications.delivery).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.accounts.models import Facility
from clinic.models import TimestampedModel
from clinic.scoping import Scope


class Reminder(TimestampedModel):
    SCOPE = Scope(facility="facility", patient="patient")

    class Kind(models.TextChoices):
        # To patients
        APPOINTMENT = "appointment", "Appointment"
        CHECK_IN_PROMPT = "check_in_prompt", "Check-in prompt"
        MEDICATION_REFILL = "medication_refill", "Medication refill"
        # To staff
        CHECK_IN_DUE = "check_in_due", "Provider check-in due"
        PLAN_REVIEW_DUE = "plan_review_due", "Plan review due"
        OBSERVATION_ROUND_DUE = "observation_round_due", "Observation round due"
        NOTE_UNSIGNED = "note_unsigned", "Note unsigned"
        ALERT = "alert", "Alert"
        GENERIC = "generic", "Generic"

    PATIENT_KINDS = frozenset({Kind.APPOINTMENT, Kind.CHECK_IN_PROMPT, Kind.MEDICATION_REFILL})

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        PUSH = "push", "Push"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SUPPRESSED = "suppressed", "Suppressed"

    class SuppressedReason(models.TextChoices):
        NO_CHANNEL = "no_channel", "The patient chose no channel"
        NO_CONSENT = "no_consent", "No opt-in for this channel"
        NO_ADDRESS = "no_address", "No address for this channel"
        RECIPIENT_INACTIVE = "recipient_inactive", "The recipient can no longer be contacted"
        EXPIRED = "expired", "What it reminds of had already begun"

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        settings.CLINIC_PATIENT_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="reminders"
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="reminders"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # Blank only when the reminder was suppressed because the patient chose no channel at all.
    channel = models.CharField(max_length=8, choices=Channel.choices, blank=True)
    send_at = models.DateTimeField(help_text="When the domain asked for it to go out (UTC).")
    deliver_after = models.DateTimeField(
        help_text="When it may go out: send_at moved past quiet hours, or the next try after a failure."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=64, blank=True, help_text="An error code; never patient data.")
    suppressed_reason = models.CharField(max_length=32, choices=SuppressedReason.choices, blank=True)
    # A dispatcher's or a sender's lease: while it is in the future nobody else claims the row; a crashed
    # worker's claim simply runs out and the next dispatcher run takes the reminder again.
    claimed_until = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True, editable=False)
    subject_type = models.CharField(max_length=64, blank=True, help_text='What it is about, e.g. "therapy.session".')
    subject_id = models.CharField(max_length=64, blank=True)
    context = models.JSONField(default=dict, blank=True, help_text="Template values; never identifying data.")

    class Meta:
        ordering = ["-send_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(patient__isnull=False, staff__isnull=True) | Q(patient__isnull=True, staff__isnull=False),
                name="reminder_one_recipient",
            ),
            models.CheckConstraint(
                condition=~Q(channel="") | Q(status="suppressed"), name="reminder_channel_unless_suppressed"
            ),
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) | (~Q(status="sent") & Q(sent_at__isnull=True)),
                name="reminder_sent_at_iff_sent",
            ),
            models.CheckConstraint(
                condition=(Q(status="suppressed") & ~Q(suppressed_reason=""))
                | (~Q(status="suppressed") & Q(suppressed_reason="")),
                name="reminder_suppressed_iff_reason",
            ),
        ]
        indexes = [
            # The dispatcher's due scan: small (only waiting rows) whatever the size of the history.
            models.Index(fields=["deliver_after"], name="reminder_due_scan", condition=Q(status="scheduled")),
            models.Index(
                fields=["subject_type", "subject_id"], name="reminder_pending_subject", condition=Q(status="scheduled")
            ),
            models.Index(fields=["patient", "-created_at"], name="reminder_patient_recent"),
            models.Index(fields=["staff", "-created_at"], name="reminder_staff_recent"),
            models.Index(fields=["facility", "status", "-created_at"], name="reminder_facility_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} reminder ({self.get_status_display().lower()})"

    @property
    def is_for_patient(self) -> bool:
        return self.patient_id is not None
