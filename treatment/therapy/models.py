"""Therapy: treatment plans, individual/family and group sessions, the patient's appointments calendar, and
progress notes (DAP or SOAP; signed notes are locked, changes are signed addenda) with psychotherapy notes as
a separate, more restricted class.

Where the database can hold a rule, it does: one plan per episode, one note per session, one roster entry
per patient and group, an end after the start, one of session / group note per progress note; and a signed
note or an addendum cannot be changed or deleted even by SQL (triggers, migration 0002).
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from clinic.accounts.models import Facility
from clinic.models import TimestampedModel
from clinic.scoping import Scope
from patients.models import Patient
from treatment.models import Episode

DEFAULT_REVIEW_INTERVAL_DAYS = 30
MAX_SESSION_LENGTH = timedelta(hours=8)


def _staff(related_name: str, **kwargs):
    return models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name=related_name, **kwargs)


class Modality(models.TextChoices):
    """Therapeutic approaches, for sessions and plan interventions."""

    CBT = "cbt", "Cognitive behavioural therapy (CBT)"
    MOTIVATIONAL_INTERVIEWING = "motivational_interviewing", "Motivational interviewing"
    RELAPSE_PREVENTION = "relapse_prevention", "Relapse prevention"
    DBT = "dbt", "Dialectical behaviour therapy (DBT)"
    FAMILY_WORK = "family_work", "Family work"
    OTHER = "other", "Other"


class AttendanceStatus(models.TextChoices):
    """Where a session, a roster entry or an appointment stands. Cancelled and late-cancelled free the slot."""

    SCHEDULED = "scheduled", "Scheduled"
    ATTENDED = "attended", "Attended"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"
    LATE_CANCELLED = "late_cancelled", "Late-cancelled"


CANCELLED_STATUSES = (AttendanceStatus.CANCELLED, AttendanceStatus.LATE_CANCELLED)
OUTCOME_STATUSES = (AttendanceStatus.ATTENDED, AttendanceStatus.NO_SHOW)


def _ends_after_start(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name=name)


def _status_valid(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(status__in=AttendanceStatus.values), name=name)


# --- Treatment plans -----------------------------------------------------------------------------------


class TreatmentPlan(TimestampedModel):
    """The plan of one episode: problems, SMART goals with objectives, interventions, and its reviews.

    A review is due `review_interval_days` after the last review (or the plan's creation); the primary
    counselor is reminded once per due date (`review_reminded_for`, see tasks)."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    episode = models.OneToOneField(Episode, on_delete=models.PROTECT, related_name="treatment_plan")
    review_interval_days = models.PositiveSmallIntegerField(
        default=DEFAULT_REVIEW_INTERVAL_DAYS, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    next_review_at = models.DateTimeField()
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reminded_for = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The due time the primary counselor was reminded of."
    )
    created_by = _staff("+")

    class Meta:
        ordering = ["next_review_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(review_interval_days__gte=1, review_interval_days__lte=365),
                name="plan_review_interval_range",
            )
        ]
        indexes = [models.Index(fields=["next_review_at"])]

    def __str__(self) -> str:
        return f"Treatment plan {str(self.pk)[:8]}"


class PlanProblem(TimestampedModel):
    SCOPE = Scope(facility="plan__episode__patient__facility", patient="plan__episode__patient")

    plan = models.ForeignKey(TreatmentPlan, on_delete=models.CASCADE, related_name="problems")
    description = models.TextField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "created_at"]

    def __str__(self) -> str:
        return f"Problem {self.position + 1}"


class PlanGoal(TimestampedModel):
    """A SMART goal: a specific statement, how progress is measured, and the date it is due by."""

    SCOPE = Scope(facility="problem__plan__episode__patient__facility", patient="problem__plan__episode__patient")

    problem = models.ForeignKey(PlanProblem, on_delete=models.CASCADE, related_name="goals")
    statement = models.TextField(help_text="Specific, achievable and relevant to the problem.")
    measure = models.CharField(max_length=300, help_text="How progress is measured.")
    target_date = models.DateField(help_text="Time-bound: the date it is due by.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "created_at"]

    def __str__(self) -> str:
        return f"Goal {self.position + 1}"


class PlanObjective(TimestampedModel):
    SCOPE = Scope(
        facility="goal__problem__plan__episode__patient__facility", patient="goal__problem__plan__episode__patient"
    )

    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        ACHIEVED = "achieved", "Achieved"
        NOT_ACHIEVED = "not_achieved", "Not achieved"
        DISCONTINUED = "discontinued", "Discontinued"

    goal = models.ForeignKey(PlanGoal, on_delete=models.CASCADE, related_name="objectives")
    description = models.TextField()
    target_date = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_STARTED)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["not_started", "in_progress", "achieved", "not_achieved", "discontinued"]),
                name="plan_objective_status_valid",
            )
        ]

    def __str__(self) -> str:
        return f"Objective {self.position + 1}"


class PlanIntervention(TimestampedModel):
    SCOPE = Scope(facility="plan__episode__patient__facility", patient="plan__episode__patient")

    plan = models.ForeignKey(TreatmentPlan, on_delete=models.CASCADE, related_name="interventions")
    kind = models.CharField(max_length=32, choices=Modality.choices)
    description = models.TextField(blank=True, help_text="Required for 'other'.")
    frequency = models.CharField(max_length=100, blank=True, help_text='e.g. "weekly, 50 minutes"')
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="other") | ~Q(description=""), name="plan_intervention_other_described"
            )
        ]

    def __str__(self) -> str:
        return self.get_kind_display()

    def clean(self) -> None:
        if self.kind == Modality.OTHER and not self.description.strip():
            raise ValidationError({"description": ["Describe an intervention of kind 'other'."]})


class PlanReview(TimestampedModel):
    """One review of a plan: who, when, what was concluded. Never changed afterwards."""

    SCOPE = Scope(facility="plan__episode__patient__facility", patient="plan__episode__patient")

    plan = models.ForeignKey(TreatmentPlan, on_delete=models.PROTECT, related_name="reviews")
    reviewed_by = _staff("+")
    reviewed_at = models.DateTimeField()
    summary = models.TextField()
    next_review_at = models.DateTimeField()

    class Meta:
        ordering = ["-reviewed_at"]

    def __str__(self) -> str:
        return f"Review {self.reviewed_at:%Y-%m-%d}"


# --- Appointments (the patient's calendar) -------------------------------------------------------------


class Appointment(TimestampedModel):
    """One entry of a patient's calendar: a therapy session, a place in a group, a provider check-in, or
    anything else the clinic books. Made only by `appointment_schedule`, which also schedules the patient's
    reminders; `subject_type`/`subject_id` name what it was booked for (e.g. "therapy.therapysession")."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Kind(models.TextChoices):
        SESSION = "session", "Session"
        GROUP_SESSION = "group_session", "Group session"
        PROVIDER_CHECK_IN = "provider_check_in", "Provider check-in"
        OTHER = "other", "Other"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    with_staff = _staff("appointments_with", null=True, blank=True)
    location = models.CharField(max_length=200, blank=True, help_text="A room or an address.")
    telehealth_url = models.URLField(blank=True)
    status = models.CharField(max_length=16, choices=AttendanceStatus.choices, default=AttendanceStatus.SCHEDULED)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    subject_type = models.CharField(max_length=64, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    scheduled_by = _staff("+", null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            _ends_after_start("appointment_ends_after_start"),
            _status_valid("appointment_status_valid"),
            models.CheckConstraint(
                condition=Q(cancelled_at__isnull=False, status__in=CANCELLED_STATUSES)
                | Q(cancelled_at__isnull=True) & ~Q(status__in=CANCELLED_STATUSES),
                name="appointment_cancelled_at_iff_cancelled",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "starts_at"]),
            models.Index(fields=["with_staff", "starts_at"]),
            models.Index(fields=["subject_type", "subject_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.starts_at:%Y-%m-%d %H:%M} UTC"


# --- Sessions ------------------------------------------------------------------------------------------


class TherapySession(TimestampedModel):
    """An individual or family session of one patient with a counselor."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Kind(models.TextChoices):
        INDIVIDUAL = "individual", "Individual"
        FAMILY = "family", "Family"

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="therapy_sessions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="therapy_sessions")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INDIVIDUAL)
    modality = models.CharField(max_length=32, choices=Modality.choices)
    counselor = _staff("therapy_sessions")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True, help_text="The room, for an in-person session.")
    telehealth_url = models.URLField(blank=True, help_text="The video link, for a telehealth session.")
    family_participants = models.CharField(
        max_length=300, blank=True, help_text="Family sessions: who took part (e.g. mother, partner)."
    )
    status = models.CharField(max_length=16, choices=AttendanceStatus.choices, default=AttendanceStatus.SCHEDULED)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=300, blank=True)
    attendance_recorded_at = models.DateTimeField(null=True, blank=True)
    attendance_recorded_by = _staff("+", null=True, blank=True)
    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, null=True, blank=True, related_name="therapy_session"
    )
    scheduled_by = _staff("+")

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            _ends_after_start("therapy_session_ends_after_start"),
            _status_valid("therapy_session_status_valid"),
            models.CheckConstraint(condition=Q(kind__in=["individual", "family"]), name="therapy_session_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind="family") | Q(family_participants=""), name="therapy_session_family_participants"
            ),
        ]
        indexes = [
            models.Index(fields=["counselor", "starts_at"]),
            models.Index(fields=["patient", "starts_at"]),
            models.Index(fields=["starts_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} session {self.starts_at:%Y-%m-%d %H:%M} UTC"


class GroupSession(TimestampedModel):
    """A group led by a facilitator, with a capacity and a roster. Staff only: each rostered patient sees
    their own appointment, never the group's roster."""

    SCOPE = Scope(facility="facility", patient=None)

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        HELD = "held", "Held"
        CANCELLED = "cancelled", "Cancelled"

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="group_sessions")
    title = models.CharField(max_length=120, help_text='e.g. "Relapse prevention group" (shown to attendees).')
    modality = models.CharField(max_length=32, choices=Modality.choices)
    facilitator = _staff("facilitated_group_sessions")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True)
    telehealth_url = models.URLField(blank=True)
    capacity = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(100)])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=300, blank=True)
    scheduled_by = _staff("+")

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            _ends_after_start("group_session_ends_after_start"),
            models.CheckConstraint(condition=Q(capacity__gte=1, capacity__lte=100), name="group_session_capacity"),
            models.CheckConstraint(
                condition=Q(status__in=["scheduled", "held", "cancelled"]), name="group_session_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["facility", "starts_at"]), models.Index(fields=["facilitator", "starts_at"])]

    def __str__(self) -> str:
        return f"{self.title} {self.starts_at:%Y-%m-%d %H:%M} UTC"


class GroupAttendance(TimestampedModel):
    """A patient's place on a group's roster, and whether they came."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    group_session = models.ForeignKey(GroupSession, on_delete=models.PROTECT, related_name="roster")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="group_attendances")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="group_attendances")
    status = models.CharField(max_length=16, choices=AttendanceStatus.choices, default=AttendanceStatus.SCHEDULED)
    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, null=True, blank=True, related_name="group_attendance"
    )
    recorded_at = models.DateTimeField(null=True, blank=True)
    recorded_by = _staff("+", null=True, blank=True)
    added_by = _staff("+")

    class Meta:
        ordering = ["created_at"]
        verbose_name = "roster entry"
        verbose_name_plural = "roster"
        constraints = [
            models.UniqueConstraint(fields=["group_session", "patient"], name="group_attendance_once_per_patient"),
            _status_valid("group_attendance_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Roster entry {str(self.pk)[:8]} ({self.get_status_display()})"


# --- Notes ---------------------------------------------------------------------------------------------


class NoteFormat(models.TextChoices):
    DAP = "dap", "DAP (data, assessment, plan)"
    SOAP = "soap", "SOAP (subjective, objective, assessment, plan)"


# The sections each format is written in; a note is signed only with every section filled in.
NOTE_SECTIONS: dict[str, tuple[str, ...]] = {
    NoteFormat.DAP: ("data", "assessment", "plan"),
    NoteFormat.SOAP: ("subjective", "objective", "assessment", "plan"),
}
ALL_SECTIONS = ("subjective", "objective", "data", "assessment", "plan")


class GroupNote(TimestampedModel):
    """The note of a group session, written once: a shared part (what the group worked on, naming nobody)
    and one progress note per attendee (their participation and progress) in `parts`. The shared part is
    shown in each attendee's chart; an attendee's part only in their own. Signed as a whole by its author."""

    SCOPE = Scope(facility="group_session__facility", patient=None)

    group_session = models.OneToOneField(GroupSession, on_delete=models.PROTECT, related_name="note")
    format = models.CharField(max_length=8, choices=NoteFormat.choices)
    summary = models.TextField(
        help_text="Shared with every attendee's chart: the topic and the work of the group. Name no attendee."
    )
    author = _staff("+")
    signed_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    unsigned_reminded_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, content_hash="") | Q(signed_at__isnull=False) & ~Q(content_hash=""),
                name="group_note_signed_with_hash",
            )
        ]

    def __str__(self) -> str:
        return f"Group note {str(self.pk)[:8]}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class ProgressNote(TimestampedModel):
    """A note in one patient's chart: of an individual or family session, or their part of a group note.

    Editable by its author while a draft; signed by its author, it is locked (the database refuses changes)
    and later changes are signed addenda."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Participation(models.TextChoices):
        ACTIVE = "active", "Active"
        MODERATE = "moderate", "Moderate"
        MINIMAL = "minimal", "Minimal"
        DISRUPTIVE = "disruptive", "Disruptive"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="progress_notes")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="progress_notes")
    session = models.ForeignKey(
        TherapySession, on_delete=models.PROTECT, null=True, blank=True, related_name="progress_notes"
    )
    group_note = models.ForeignKey(GroupNote, on_delete=models.PROTECT, null=True, blank=True, related_name="parts")
    format = models.CharField(max_length=8, choices=NoteFormat.choices)
    subjective = models.TextField(blank=True)
    objective = models.TextField(blank=True)
    data = models.TextField(blank=True)
    assessment = models.TextField(blank=True)
    plan = models.TextField(blank=True)
    participation = models.CharField(
        max_length=16, choices=Participation.choices, blank=True, help_text="Group parts only."
    )
    author = _staff("authored_progress_notes")
    signed_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    unsigned_reminded_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(session__isnull=False, group_note__isnull=True)
                | Q(session__isnull=True, group_note__isnull=False),
                name="progress_note_session_or_group",
            ),
            models.UniqueConstraint(
                fields=["session"], condition=Q(session__isnull=False), name="progress_note_one_per_session"
            ),
            models.UniqueConstraint(fields=["group_note", "patient"], name="progress_note_one_part_per_attendee"),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, content_hash="") | Q(signed_at__isnull=False) & ~Q(content_hash=""),
                name="progress_note_signed_with_hash",
            ),
            models.CheckConstraint(
                condition=Q(group_note__isnull=False) | Q(participation=""), name="progress_note_participation_group"
            ),
        ]
        indexes = [models.Index(fields=["patient", "-created_at"]), models.Index(fields=["author", "signed_at"])]

    def __str__(self) -> str:
        return f"Progress note {str(self.pk)[:8]}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def status(self) -> str:
        return "signed" if self.is_signed else "draft"


class NoteAddendum(TimestampedModel):
    """A later change to a signed progress note, signed by its author when written. Never changed."""

    SCOPE = Scope(facility="note__patient__facility", patient="note__patient")

    note = models.ForeignKey(ProgressNote, on_delete=models.PROTECT, related_name="addenda")
    text = models.TextField()
    author = _staff("+")
    signed_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["signed_at", "created_at"]
        verbose_name_plural = "note addenda"

    def __str__(self) -> str:
        return f"Addendum {str(self.pk)[:8]}"


class PsychotherapyNote(TimestampedModel):
    """A therapist's psychotherapy (process) notes, kept apart from the chart: only their author ever reads
    or changes them (not other clinicians, not administrators, not the patient through the app)."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="psychotherapy_notes")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="psychotherapy_notes")
    session = models.ForeignKey(
        TherapySession, on_delete=models.PROTECT, null=True, blank=True, related_name="psychotherapy_notes"
    )
    content = models.TextField()
    author = _staff("authored_psychotherapy_notes")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["author", "-created_at"])]

    def __str__(self) -> str:
        return f"Psychotherapy note {str(self.pk)[:8]}"
