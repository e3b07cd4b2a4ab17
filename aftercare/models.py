"""Aftercare: the relapse-prevention plan of an episode, the follow-up check-ins providers hold after the patient
leaves the programme, the patient's own daily check-ins, and relapses (a learning point, not a failure)."""

import datetime

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from clinic.accounts.models import Facility
from clinic.models import TimestampedModel
from clinic.scoping import Scope
from patients.models import Patient, SubstanceUseHistory
from treatment.models import Episode

DEFAULT_CHECK_IN_OFFSETS_DAYS = (7, 30, 90, 180, 365)
DEFAULT_GRACE_DAYS = 3
DEFAULT_DUE_TIME = datetime.time(10, 0)
DEFAULT_PROMPT_TIME = datetime.time(19, 0)


def default_offsets() -> list[int]:
    return list(DEFAULT_CHECK_IN_OFFSETS_DAYS)


class ProviderCheckInSchedule(TimestampedModel):
    """A facility's follow-up schedule: check-ins so many days after the patient enters aftercare, due at a
    local time of day, and how long after its due date an open check-in counts as missed. Facilities
    without a row use the defaults (7, 30, 90, 180 and 365 days; 10:00; 3 days)."""

    SCOPE = Scope(facility="facility", patient=None)

    facility = models.OneToOneField(Facility, on_delete=models.PROTECT, related_name="provider_check_in_schedule")
    offsets_days = ArrayField(
        models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(3650)]),
        default=default_offsets,
        help_text="Days after entering aftercare, e.g. 7, 30, 90, 180, 365.",
    )
    due_time = models.TimeField(default=DEFAULT_DUE_TIME, help_text="Local time (the facility's zone).")
    grace_days = models.PositiveSmallIntegerField(
        default=DEFAULT_GRACE_DAYS, validators=[MaxValueValidator(60)], help_text="Days after due before missed."
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["facility"]

    def __str__(self) -> str:
        return f"Follow-up schedule ({', '.join(str(days) for days in self.offsets_days)} days)"


class TriggerCategory(models.TextChoices):
    STRESS = "stress", "Stress"
    NEGATIVE_EMOTIONS = "negative_emotions", "Negative emotions"
    SOCIAL_SETTINGS = "social_settings", "Social settings"
    PLACES = "places", "Places"
    PEOPLE = "people", "People"
    OTHER = "other", "Other"


class RelapsePreventionPlan(TimestampedModel):
    """One episode's relapse-prevention plan. Staff write it; the patient reads it in the app and may add their
    own triggers and coping strategies (marked as theirs). Entering aftercare needs one."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    episode = models.OneToOneField(Episode, on_delete=models.PROTECT, related_name="relapse_prevention_plan")
    craving_action_plan = models.JSONField(
        default=list, blank=True, help_text="Steps in order, e.g. call a support person, delay 10-15 minutes."
    )
    support_contacts = models.JSONField(default=list, blank=True, help_text='[{"name", "relationship", "phone"}]')
    support_groups = models.JSONField(
        default=list, blank=True, help_text='[{"name", "kind", "day", "time", "place", "link"}]'
    )
    reasons_for_recovery = models.JSONField(default=list, blank=True, help_text='"My why", in the patient\'s words.')
    check_in_prompt_time = models.TimeField(
        null=True,
        blank=True,
        default=DEFAULT_PROMPT_TIME,
        help_text="When the daily check-in prompt goes out, in the patient's time zone; empty: no prompt.",
    )
    # Set when the episode enters aftercare (the anchor of the follow-up schedule); staff may move it back to
    # the day the patient actually left the programme.
    aftercare_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The patient-local day of the latest daily prompt scheduled, so the scheduler runs any number of times.
    prompt_scheduled_for = models.DateField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["aftercare_started_at"])]

    def __str__(self) -> str:
        return f"Relapse-prevention plan {str(self.pk)[:8]}"


class RelapseTrigger(TimestampedModel):
    """A personal trigger of the plan, with its coping strategies."""

    SCOPE = Scope(facility="plan__episode__patient__facility", patient="plan__episode__patient")

    plan = models.ForeignKey(RelapsePreventionPlan, on_delete=models.CASCADE, related_name="triggers")
    position = models.PositiveIntegerField(default=0, editable=False, help_text="Order of entry within the plan.")
    category = models.CharField(max_length=24, choices=TriggerCategory.choices)
    description = models.CharField(max_length=500)
    authored_by_patient = models.BooleanField(default=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(category__in=TriggerCategory.values), name="trigger_category_valid")
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} trigger"


class CopingStrategy(TimestampedModel):
    SCOPE = Scope(facility="trigger__plan__episode__patient__facility", patient="trigger__plan__episode__patient")

    trigger = models.ForeignKey(RelapseTrigger, on_delete=models.CASCADE, related_name="coping_strategies")
    position = models.PositiveIntegerField(default=0, editable=False, help_text="Order of entry within the trigger.")
    text = models.CharField(max_length=500)
    authored_by_patient = models.BooleanField(default=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["position", "created_at"]
        verbose_name_plural = "coping strategies"

    def __str__(self) -> str:
        return "Coping strategy"


class ProviderCheckIn(TimestampedModel):
    """A follow-up a provider holds with the patient so many days after they entered aftercare."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        COMPLETED = "completed", "Completed"
        MISSED = "missed", "Missed"
        CANCELLED = "cancelled", "Cancelled"

    class Outcome(models.TextChoices):
        STABLE = "stable", "Stable, engaged in recovery"
        AT_RISK = "at_risk", "At risk: more support needed"
        RELAPSED = "relapsed", "Relapse reported"
        UNREACHABLE = "unreachable", "Could not be reached"

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="provider_check_ins")
    provider = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="provider_check_ins")
    offset_days = models.PositiveSmallIntegerField(help_text="Days after entering aftercare.")
    due_at = models.DateTimeField()
    missed_after = models.DateTimeField(help_text="Due plus the facility's grace period when it was scheduled.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    note = models.TextField(blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["episode", "offset_days"], name="provider_check_in_once_per_offset"),
            models.CheckConstraint(
                condition=Q(status__in=["scheduled", "completed", "missed", "cancelled"]),
                name="provider_check_in_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="completed", completed_at__isnull=False, completed_by__isnull=False) & ~Q(outcome="")
                | ~Q(status="completed") & Q(completed_at__isnull=True, outcome=""),
                name="provider_check_in_completed_has_outcome",
            ),
            models.CheckConstraint(
                condition=Q(status="cancelled", cancelled_at__isnull=False)
                | ~Q(status="cancelled") & Q(cancelled_at__isnull=True),
                name="provider_check_in_cancelled_at_iff_cancelled",
            ),
            models.CheckConstraint(condition=Q(missed_after__gte=models.F("due_at")), name="provider_check_in_grace"),
        ]
        indexes = [
            models.Index(fields=["missed_after"], name="provider_check_in_miss_scan", condition=Q(status="scheduled")),
            models.Index(fields=["provider", "due_at"]),
            models.Index(fields=["episode", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.offset_days}-day follow-up ({self.get_status_display().lower()})"


class CheckIn(TimestampedModel):
    """A patient's own check-in from the app: craving, mood, any use since the last one, triggers met."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="check_ins")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="check_ins")
    craving = models.PositiveSmallIntegerField(validators=[MaxValueValidator(10)], help_text="0 (none) to 10.")
    mood = models.PositiveSmallIntegerField(validators=[MaxValueValidator(10)], help_text="0 (worst) to 10 (best).")
    used = models.BooleanField(help_text="Any use since the last check-in.")
    triggers = models.JSONField(default=list, blank=True, help_text="Triggers met, in the patient's words.")
    note = models.TextField(blank=True)
    checked_in_at = models.DateTimeField()
    local_date = models.DateField(help_text="The day of the check-in in the patient's time zone.")

    class Meta:
        ordering = ["-checked_in_at", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(craving__lte=10, mood__lte=10), name="check_in_scales_0_to_10"),
        ]
        indexes = [
            models.Index(fields=["patient", "-checked_in_at"]),
            models.Index(fields=["episode", "local_date"]),
        ]

    def __str__(self) -> str:
        return f"Check-in {str(self.pk)[:8]}"


class Relapse(TimestampedModel):
    """A return to use, recorded to learn from it: when, what, the context and what helped afterwards."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="relapses")
    occurred_on = models.DateField()
    substance = models.CharField(max_length=32, choices=SubstanceUseHistory.Substance.choices)
    context = models.TextField(blank=True, help_text="Where, with whom, what led up to it.")
    what_helped = models.TextField(blank=True, help_text="What helped afterwards: a call, a meeting, ...")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    readmission = models.ForeignKey(
        Episode, on_delete=models.PROTECT, null=True, blank=True, related_name="readmitting_relapses", editable=False
    )

    class Meta:
        ordering = ["-occurred_on", "-created_at"]
        indexes = [models.Index(fields=["episode", "-occurred_on"])]

    def __str__(self) -> str:
        return f"Relapse on {self.occurred_on:%Y-%m-%d}"


class AftercareOutcome(Episode):
    """Episodes seen through their aftercare figures (the admin's outcome page); no table of its own."""

    class Meta:
        proxy = True
        verbose_name = "aftercare outcome"
