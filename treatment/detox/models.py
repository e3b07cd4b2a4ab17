"""Detox data: the drug catalogue, an episode's detox course with its observation rounds (COWS/CIWA-Ar with
vitals), medication orders and the medication administration record (MAR).

What the database can hold it holds: vitals within their plausible ranges, one open round per course, a
scheduled dose recorded once, PRN orders with an indication and a minimum interval.
"""

import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from clinic.models import TimestampedModel
from clinic.scoping import Scope
from treatment.models import Episode, Observation
from treatment.vitals import VITAL_RANGES

from .catalogue import DRUG_CLASSES

DRUG_CLASS_CHOICES = [(code, info.label) for code, info in DRUG_CLASSES.items()]
# Instruments whose score may trigger a PRN dose, and that a round records.
WITHDRAWAL_INSTRUMENTS = [("cows", "COWS"), ("ciwa_ar", "CIWA-Ar")]
DEFAULT_ROUND_INTERVAL_MINUTES = 240
MIN_ROUND_INTERVAL_MINUTES = 60
MAX_ROUND_INTERVAL_MINUTES = 720
# A PRN order's minimum interval and daily cap: beyond these it is a typing slip, not an "as needed" order.
MAX_PRN_INTERVAL_MINUTES = 1440
MAX_PRN_DOSES_PER_24H = 24


class Route(models.TextChoices):
    ORAL = "oral", "Oral"
    SUBLINGUAL = "sublingual", "Sublingual"
    INTRAMUSCULAR = "intramuscular", "Intramuscular"
    INTRAVENOUS = "intravenous", "Intravenous"
    SUBCUTANEOUS = "subcutaneous", "Subcutaneous"
    TRANSDERMAL = "transdermal", "Transdermal"
    RECTAL = "rectal", "Rectal"


class DoseUnit(models.TextChoices):
    MG = "mg", "mg"
    MCG = "mcg", "mcg"
    G = "g", "g"
    ML = "ml", "ml"
    TABLET = "tablet", "tablet(s)"
    CAPSULE = "capsule", "capsule(s)"
    SACHET = "sachet", "sachet(s)"


class Drug(TimestampedModel):
    """One drug of the catalogue (reference data, the same for every facility: it holds no patient data)."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80, unique=True)
    drug_class = models.CharField(max_length=32, choices=DRUG_CLASS_CHOICES)
    controlled = models.BooleanField(default=False, help_text="A controlled substance (counted, double-signed).")
    schedule = models.CharField(max_length=4, blank=True, help_text="DEA schedule (II-V) of a controlled substance.")
    default_route = models.CharField(max_length=16, choices=Route.choices, default=Route.ORAL)
    default_unit = models.CharField(max_length=8, choices=DoseUnit.choices, default=DoseUnit.MG)
    synonyms = models.JSONField(default=list, blank=True, help_text="Brand and other names, lower case.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(controlled=True, schedule__in=["II", "III", "IV", "V"]) | Q(controlled=False, schedule=""),
                name="drug_controlled_has_schedule",
            ),
            models.CheckConstraint(condition=Q(drug_class__in=list(DRUG_CLASSES)), name="drug_class_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_benzodiazepine(self) -> bool:
        return self.drug_class == "benzodiazepine"


class DetoxCourse(TimestampedModel):
    """The detox stage of one episode: when it started and ended, and how often observation rounds are due."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    episode = models.OneToOneField(Episode, on_delete=models.PROTECT, related_name="detox_course")
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    round_interval_minutes = models.PositiveSmallIntegerField(
        default=DEFAULT_ROUND_INTERVAL_MINUTES,
        validators=[MinValueValidator(MIN_ROUND_INTERVAL_MINUTES), MaxValueValidator(MAX_ROUND_INTERVAL_MINUTES)],
        help_text="Minutes between observation rounds (a physician's order; default 240, every 4 hours).",
    )
    interval_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    interval_set_at = models.DateTimeField(null=True, blank=True)
    interval_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    round_interval_minutes__gte=MIN_ROUND_INTERVAL_MINUTES,
                    round_interval_minutes__lte=MAX_ROUND_INTERVAL_MINUTES,
                ),
                name="detox_course_interval_range",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True, ended_by__isnull=True)
                | Q(ended_at__isnull=False, ended_by__isnull=False, ended_at__gte=models.F("started_at")),
                name="detox_course_ended_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"Detox course {str(self.pk)[:8]}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None

    @property
    def round_interval(self) -> datetime.timedelta:
        return datetime.timedelta(minutes=self.round_interval_minutes)


def _vital_range_constraints() -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(
            condition=Q(**{f"{key}__isnull": True}) | Q(**{f"{key}__gte": vital.low, f"{key}__lte": vital.high}),
            name=f"round_{key}_plausible",
        )
        for key, vital in VITAL_RANGES.items()
    ]


VITAL_FIELDS = tuple(VITAL_RANGES)


class ObservationRound(TimestampedModel):
    """One due observation round of a detox course. Recording it (COWS, CIWA-Ar where alcohol is co-used, and
    the vitals) closes it and schedules the next one; 30 minutes past due it is flagged overdue, once."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    class Status(models.TextChoices):
        DUE = "due", "Due"
        OVERDUE = "overdue", "Overdue"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    OPEN_STATUSES = (Status.DUE, Status.OVERDUE)

    course = models.ForeignKey(DetoxCourse, on_delete=models.PROTECT, related_name="rounds")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="observation_rounds")
    sequence = models.PositiveIntegerField(help_text="1 for the course's first round, then 2, 3, ...")
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DUE)
    overdue_at = models.DateTimeField(null=True, blank=True, help_text="When the round was flagged overdue.")
    observed_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cows = models.OneToOneField(Observation, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    ciwa_ar = models.OneToOneField(Observation, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Vitals, in the units of treatment.vitals.VITAL_RANGES: beats/min, mmHg, °C, breaths/min, %.
    pulse = models.PositiveSmallIntegerField(null=True, blank=True, help_text="beats/min")
    systolic_bp = models.PositiveSmallIntegerField(null=True, blank=True, help_text="mmHg")
    diastolic_bp = models.PositiveSmallIntegerField(null=True, blank=True, help_text="mmHg")
    temperature_c = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True, help_text="°C")
    respiratory_rate = models.PositiveSmallIntegerField(null=True, blank=True, help_text="breaths/min")
    spo2 = models.PositiveSmallIntegerField(null=True, blank=True, help_text="%")
    note = models.TextField(blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-due_at"]
        constraints = [
            models.UniqueConstraint(fields=["course", "sequence"], name="round_sequence_unique"),
            models.UniqueConstraint(
                fields=["course"], condition=Q(status__in=["due", "overdue"]), name="round_one_open_per_course"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["due", "overdue", "completed", "cancelled"]), name="round_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="completed")
                | Q(
                    observed_at__isnull=False,
                    recorded_by__isnull=False,
                    cows__isnull=False,
                    **{f"{key}__isnull": False for key in VITAL_FIELDS},
                ),
                name="round_completed_has_record",
            ),
            models.CheckConstraint(
                condition=~Q(status="overdue") | Q(overdue_at__isnull=False), name="round_overdue_flagged_at"
            ),
            models.CheckConstraint(
                condition=Q(status="cancelled", cancelled_at__isnull=False)
                | (~Q(status="cancelled") & Q(cancelled_at__isnull=True)),
                name="round_cancelled_at_iff_cancelled",
            ),
            models.CheckConstraint(
                condition=Q(systolic_bp__isnull=True)
                | Q(diastolic_bp__isnull=True)
                | Q(diastolic_bp__lt=models.F("systolic_bp")),
                name="round_diastolic_below_systolic",
            ),
            *_vital_range_constraints(),
        ]
        indexes = [
            models.Index(fields=["due_at"], name="round_open_due_scan", condition=Q(status="due")),
            models.Index(fields=["episode", "-due_at"]),
        ]

    def __str__(self) -> str:
        return f"Round {self.sequence} ({self.get_status_display().lower()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def vitals(self) -> dict:
        return {key: getattr(self, key) for key in VITAL_FIELDS}


class Frequency(models.TextChoices):
    ONCE = "once", "Once"
    Q4H = "q4h", "Every 4 hours"
    Q6H = "q6h", "Every 6 hours"
    Q8H = "q8h", "Every 8 hours"
    Q12H = "q12h", "Every 12 hours"
    DAILY = "daily", "Once a day"
    PRN = "prn", "As needed (PRN)"


# Scheduled frequency -> the time between its doses (a "once" order has a single dose at its start).
FREQUENCY_INTERVALS: dict[str, datetime.timedelta] = {
    Frequency.Q4H: datetime.timedelta(hours=4),
    Frequency.Q6H: datetime.timedelta(hours=6),
    Frequency.Q8H: datetime.timedelta(hours=8),
    Frequency.Q12H: datetime.timedelta(hours=12),
    Frequency.DAILY: datetime.timedelta(hours=24),
}


class MedicationOrder(TimestampedModel):
    """A physician's order: drug, dose, unit, route, a schedule or PRN (indication, minimum interval, optionally
    the withdrawal score band that allows a dose), start and stop."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISCONTINUED = "discontinued", "Discontinued"

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="medication_orders")
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="orders")
    dose = models.DecimalField(max_digits=9, decimal_places=3)
    dose_unit = models.CharField(max_length=8, choices=DoseUnit.choices)
    route = models.CharField(max_length=16, choices=Route.choices)
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    indication = models.CharField(max_length=200, blank=True, help_text="PRN: what the dose is for.")
    min_interval_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PRN_INTERVAL_MINUTES)],
        help_text="PRN: minutes between doses (at most 1440, a day).",
    )
    max_doses_per_24h = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PRN_DOSES_PER_24H)],
        help_text="PRN: optional daily cap (at most 24).",
    )
    prn_instrument = models.CharField(max_length=16, choices=WITHDRAWAL_INSTRUMENTS, blank=True)
    prn_min_band = models.CharField(
        max_length=32, blank=True, help_text="PRN: the lowest band of `prn_instrument` at which a dose is allowed."
    )
    starts_at = models.DateTimeField()
    stops_at = models.DateTimeField(null=True, blank=True)
    instructions = models.TextField(blank=True)
    prescriber = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    allergy_conflicts = models.JSONField(
        default=list, blank=True, help_text="Documented allergies the prescriber overrode (as written)."
    )
    allergy_override_reason = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    discontinued_at = models.DateTimeField(null=True, blank=True)
    discontinued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    discontinue_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-starts_at", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(dose__gt=0), name="order_dose_positive"),
            models.CheckConstraint(
                condition=Q(frequency="prn", min_interval_minutes__gt=0) & ~Q(indication="")
                | (
                    ~Q(frequency="prn")
                    & Q(min_interval_minutes__isnull=True, max_doses_per_24h__isnull=True, prn_instrument="")
                ),
                name="order_prn_has_indication_and_interval",
            ),
            models.CheckConstraint(
                condition=Q(min_interval_minutes__isnull=True) | Q(min_interval_minutes__lte=MAX_PRN_INTERVAL_MINUTES),
                name="order_prn_interval_at_most_a_day",
            ),
            models.CheckConstraint(
                condition=Q(max_doses_per_24h__isnull=True)
                | Q(max_doses_per_24h__gte=1, max_doses_per_24h__lte=MAX_PRN_DOSES_PER_24H),
                name="order_prn_daily_cap_range",
            ),
            models.CheckConstraint(
                condition=Q(prn_instrument="", prn_min_band="") | (~Q(prn_instrument="") & ~Q(prn_min_band="")),
                name="order_prn_band_names_instrument",
            ),
            models.CheckConstraint(
                condition=Q(stops_at__isnull=True) | Q(stops_at__gt=models.F("starts_at")),
                name="order_stops_after_start",
            ),
            models.CheckConstraint(
                condition=Q(status="active", discontinued_at__isnull=True, discontinued_by__isnull=True)
                | Q(status="discontinued", discontinued_at__isnull=False, discontinued_by__isnull=False),
                name="order_discontinued_by_someone",
            ),
            models.CheckConstraint(
                condition=Q(allergy_conflicts=[]) | ~Q(allergy_override_reason=""),
                name="order_allergy_override_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["episode", "-starts_at"])]

    def __str__(self) -> str:
        return f"{self.drug} {self.dose:g} {self.dose_unit} {self.get_frequency_display().lower()}"

    @property
    def is_prn(self) -> bool:
        return self.frequency == Frequency.PRN

    @property
    def min_interval(self) -> datetime.timedelta | None:
        return None if self.min_interval_minutes is None else datetime.timedelta(minutes=self.min_interval_minutes)

    def ends_at(self) -> datetime.datetime | None:
        """When the order stops applying: its stop time or its discontinuation, whichever comes first."""
        ends = [moment for moment in (self.stops_at, self.discontinued_at) if moment is not None]
        return min(ends) if ends else None

    def active_at(self, moment: datetime.datetime) -> bool:
        ends_at = self.ends_at()
        return self.starts_at <= moment and (ends_at is None or moment < ends_at)


class MedicationAdministration(TimestampedModel):
    """One line of the MAR: a dose given, refused or held (with reason), by whom and when."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    class Outcome(models.TextChoices):
        GIVEN = "given", "Given"
        REFUSED = "refused", "Refused by the patient"
        HELD = "held", "Held"

    order = models.ForeignKey(MedicationOrder, on_delete=models.PROTECT, related_name="administrations")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="medication_administrations")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    scheduled_for = models.DateTimeField(
        null=True, blank=True, help_text="The scheduled dose this records (scheduled orders); empty for PRN."
    )
    administered_at = models.DateTimeField(help_text="When the dose was given, refused or held.")
    dose = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    dose_unit = models.CharField(max_length=8, choices=DoseUnit.choices, blank=True)
    route = models.CharField(max_length=16, choices=Route.choices, blank=True)
    reason = models.TextField(blank=True, help_text="Why the dose was held or refused.")
    observation = models.ForeignKey(
        Observation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Symptom-triggered PRN: the score that allowed the dose.",
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-administered_at", "-created_at"]
        constraints = [
            # A scheduled dose is recorded (given, refused or held) exactly once, whichever device is first.
            models.UniqueConstraint(
                fields=["order", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False),
                name="mar_scheduled_dose_once",
            ),
            models.CheckConstraint(
                condition=Q(outcome="given", dose__gt=0) & ~Q(dose_unit="") & ~Q(route="")
                | (~Q(outcome="given") & Q(dose__isnull=True, dose_unit="", route="")),
                name="mar_given_has_dose",
            ),
            models.CheckConstraint(condition=~Q(outcome="held") | ~Q(reason=""), name="mar_held_has_reason"),
            models.CheckConstraint(condition=Q(outcome__in=["given", "refused", "held"]), name="mar_outcome_valid"),
        ]
        indexes = [
            models.Index(fields=["order", "-administered_at"]),
            models.Index(fields=["episode", "-administered_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} {self.administered_at:%Y-%m-%d %H:%M}"
