from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinic.accounts.models import Facility
from clinic.accounts.roles import Role
from clinic.models import TimestampedModel
from clinic.scoping import Scope
from patients.models import Patient

from .assessment_data import ASAM_EDITIONS, validate_asam_dimensions, validate_drug_screen
from .vitals import validate_vitals


class Stage(models.TextChoices):
    ASSESSMENT = "assessment", "Assessment"
    DETOX = "detox", "Detox"
    THERAPY = "therapy", "Therapy"
    AFTERCARE = "aftercare", "Aftercare"
    DISCHARGED = "discharged", "Discharged"


class Setting(models.TextChoices):
    INPATIENT = "inpatient", "Inpatient"
    RESIDENTIAL = "residential", "Residential"
    OUTPATIENT = "outpatient", "Outpatient"


class DischargeReason(models.TextChoices):
    COMPLETED = "completed", "Completed"
    TRANSFERRED = "transferred", "Transferred"
    LEFT_AGAINST_ADVICE = "left_against_advice", "Left against advice"
    OTHER = "other", "Other"


def _care_team_member(related_name: str):
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name=related_name
    )


class Episode(TimestampedModel):
    """One episode of care: where a patient is in treatment. A patient has at most one open episode."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="episodes")
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.ASSESSMENT)
    setting = models.CharField(max_length=16, choices=Setting.choices, null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)
    discharge_reason = models.CharField(max_length=24, choices=DischargeReason.choices, blank=True)
    previous_episode = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="readmissions"
    )
    physician = _care_team_member("episodes_as_physician")
    nurse = _care_team_member("episodes_as_nurse")
    primary_counselor = _care_team_member("episodes_as_primary_counselor")
    case_manager = _care_team_member("episodes_as_case_manager")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=Q(closed_at__isnull=True), name="episode_one_open_per_patient"
            ),
            # Discharged, closed and a discharge reason go together.
            models.CheckConstraint(
                condition=(
                    Q(stage=Stage.DISCHARGED, closed_at__isnull=False) & ~Q(discharge_reason="")
                    | ~Q(stage=Stage.DISCHARGED) & Q(closed_at__isnull=True, discharge_reason="")
                ),
                name="episode_closed_iff_discharged",
            ),
            models.CheckConstraint(condition=Q(stage__in=Stage.values), name="episode_stage_valid"),
            models.CheckConstraint(
                condition=Q(setting__isnull=True) | Q(setting__in=Setting.values), name="episode_setting_valid"
            ),
            models.CheckConstraint(
                condition=Q(previous_episode__isnull=True) | ~Q(previous_episode=models.F("id")),
                name="episode_not_its_own_previous",
            ),
        ]
        indexes = [models.Index(fields=["patient", "-opened_at"]), models.Index(fields=["stage"])]

    def __str__(self) -> str:
        return f"Episode {str(self.pk)[:8]} ({self.get_stage_display()})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class EpisodeTransition(TimestampedModel):
    """One move of an episode from stage to stage: who, when, from, to and why. Never changed afterwards."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="transitions")
    from_stage = models.CharField(max_length=16, choices=Stage.choices)
    to_stage = models.CharField(max_length=16, choices=Stage.choices)
    reason = models.TextField(blank=True)
    category = models.CharField(max_length=24, choices=DischargeReason.choices, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "created_at"]
        constraints = [models.CheckConstraint(condition=~Q(from_stage=models.F("to_stage")), name="transition_moves")]

    def __str__(self) -> str:
        return f"{self.from_stage} -> {self.to_stage}"


class InstrumentConfiguration(TimestampedModel):
    """A facility's bands and alert thresholds for one instrument. The newest row is in effect; older rows
    stay so that every observation's `definition_version` can still be explained."""

    SCOPE = Scope(facility="facility", patient=None)

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="instrument_configurations")
    # No `choices` on instrument fields: the definitions are data (treatment.instruments), and adding one must
    # not need a migration. Services and forms validate the code against the definitions.
    instrument = models.CharField(max_length=32)
    version = models.CharField(max_length=64, editable=False)
    bands = models.JSONField(help_text='A list of {"name", "low", "high"}, covering 0 to the maximum total.')
    alert_thresholds = models.JSONField(default=dict, blank=True, help_text='e.g. {"severity": 19}')
    sex_bands = models.JSONField(default=dict, blank=True, help_text="Sex -> bands, for sex-specific bands.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["facility", "instrument", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "instrument", "version"], name="instrument_config_version")
        ]

    def __str__(self) -> str:
        return self.version


class Observation(TimestampedModel):
    """One administration of a validated instrument, scored by the server with the definition in effect."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="observations")
    instrument = models.CharField(max_length=32)
    responses = models.JSONField()
    total = models.PositiveSmallIntegerField()
    band = models.CharField(max_length=32)
    flags = models.JSONField(default=list, blank=True)
    definition_version = models.CharField(max_length=64)
    # A SubstanceUseHistory.Substance code, validated by the service (patients owns that list).
    substance = models.CharField(
        max_length=32, blank=True, help_text="The substance assessed, for instruments assessed per substance (DSM-5)."
    )
    observed_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-observed_at", "-created_at"]
        indexes = [models.Index(fields=["episode", "instrument", "-observed_at"])]

    def __str__(self) -> str:
        return f"{self.instrument} {self.total} ({self.band})"


class Alert(TimestampedModel):
    """Something a person or a role on the care team must act on. Staff only: patients never see alerts."""

    SCOPE = Scope(facility="patient__facility", patient="patient")

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="alerts")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts")
    kind = models.CharField(max_length=48)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    reason = models.CharField(max_length=500)
    target_role = models.CharField(max_length=32, choices=Role.choices, blank=True)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts_to_act_on"
    )
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True, editable=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(target_role="") | Q(target_user__isnull=False), name="alert_has_someone_to_act"
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="alert_acknowledged_by_someone",
            ),
            models.CheckConstraint(
                condition=Q(severity__in=["low", "medium", "high", "critical"]), name="alert_severity_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "-created_at"]),
            models.Index(fields=["acknowledged_at"]),
            # The open alerts, newest first (`?acknowledged=false`): few rows among many acknowledged ones.
            models.Index(
                fields=["-created_at", "-id"], condition=Q(acknowledged_at__isnull=True), name="alert_open_recent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_severity_display()} {self.kind}"


class Assessment(TimestampedModel):
    """The assessment that opens an episode: medical and psychological evaluation, the person's situation,
    the level-of-care recommendation with every rule that fired, and the clinician's decision."""

    SCOPE = Scope(facility="episode__patient__facility", patient="episode__patient")

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        COMPLETED = "completed", "Completed"

    class SupportSystem(models.TextChoices):
        STRONG = "strong", "Strong"
        MODERATE = "moderate", "Moderate"
        LIMITED = "limited", "Limited"
        NONE = "none", "None"

    class Readiness(models.TextChoices):
        """Stages of change (transtheoretical model)."""

        PRECONTEMPLATION = "precontemplation", "Precontemplation"
        CONTEMPLATION = "contemplation", "Contemplation"
        PREPARATION = "preparation", "Preparation"
        ACTION = "action", "Action"
        MAINTENANCE = "maintenance", "Maintenance"

    class RecommendedSetting(models.TextChoices):
        INPATIENT = "inpatient", "Inpatient or residential"
        OUTPATIENT = "outpatient", "Outpatient"

    class OutpatientIntensity(models.TextChoices):
        STANDARD = "standard", "Standard outpatient (ASAM 1)"
        INTENSIVE = "intensive", "Intensive outpatient (ASAM 2.1)"
        PARTIAL_HOSPITALIZATION = "partial_hospitalization", "Partial hospitalization (ASAM 2.5)"

    episode = models.OneToOneField(Episode, on_delete=models.PROTECT, related_name="assessment")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Medical evaluation.
    vitals = models.JSONField(default=dict, blank=True, validators=[validate_vitals])
    medical_history = models.TextField(blank=True)
    current_medications = models.TextField(blank=True)
    urine_drug_screen = models.JSONField(default=dict, blank=True, validators=[validate_drug_screen])
    pregnant = models.BooleanField(null=True, blank=True)
    withdrawal_seizure_or_delirium_history = models.BooleanField(null=True, blank=True)
    serious_medical_comorbidity = models.BooleanField(null=True, blank=True)
    # Psychological evaluation; the instrument observations it rests on are linked when recommending.
    psychological_evaluation = models.TextField(blank=True)
    observations = models.ManyToManyField(Observation, blank=True, related_name="assessments")
    # The person's situation.
    support_system = models.CharField(max_length=16, choices=SupportSystem.choices, blank=True)
    support_system_notes = models.TextField(blank=True)
    safe_living_environment = models.BooleanField(null=True, blank=True)
    living_environment_notes = models.TextField(blank=True)
    readiness_to_change = models.CharField(max_length=24, choices=Readiness.choices, blank=True)
    asam_edition = models.CharField("ASAM Criteria edition", max_length=16, choices=ASAM_EDITIONS, blank=True)
    asam_dimensions = models.JSONField(default=dict, blank=True, validators=[validate_asam_dimensions])
    # The recommendation: its setting, every rule that fired and the facts it was computed from.
    recommended_setting = models.CharField(max_length=16, choices=RecommendedSetting.choices, blank=True)
    recommendation_rules = models.JSONField(default=list, blank=True, editable=False)
    recommendation_facts = models.JSONField(default=dict, blank=True, editable=False)
    recommended_at = models.DateTimeField(null=True, blank=True, editable=False)
    recommended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    # The decision.
    accepted_setting = models.CharField(max_length=16, choices=Setting.choices, blank=True)
    outpatient_intensity = models.CharField(max_length=32, choices=OutpatientIntensity.choices, blank=True)
    override_reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="draft", decided_at__isnull=True, accepted_setting="")
                | Q(status="completed", decided_at__isnull=False, decided_by__isnull=False)
                & ~Q(accepted_setting="")
                & ~Q(recommended_setting=""),
                name="assessment_completed_has_decision",
            ),
        ]

    def __str__(self) -> str:
        return f"Assessment {str(self.pk)[:8]} ({self.get_status_display()})"

    @property
    def is_override(self) -> bool:
        """True when the accepted setting differs from the recommendation (inpatient and residential count as
        the same recommendation)."""
        return bool(self.accepted_setting) and setting_family(self.accepted_setting) != self.recommended_setting


def setting_family(setting: str) -> str:
    """The recommendation a setting answers: inpatient and residential both answer "inpatient"."""
    return (
        Assessment.RecommendedSetting.OUTPATIENT
        if setting == Setting.OUTPATIENT
        else (Assessment.RecommendedSetting.INPATIENT)
    )
