from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from treatment.detox.models import (
    MAX_ROUND_INTERVAL_MINUTES,
    MIN_ROUND_INTERVAL_MINUTES,
    WITHDRAWAL_INSTRUMENTS,
    DetoxCourse,
    DoseUnit,
    Drug,
    Frequency,
    MedicationAdministration,
    MedicationOrder,
    ObservationRound,
    Route,
)
from treatment.models import Observation
from treatment.vitals import VITAL_RANGES

VITAL_UNITS = {key: vital.unit for key, vital in VITAL_RANGES.items()}

# --- Drug catalogue ------------------------------------------------------------------------------------


class DrugOutputSerializer(serializers.ModelSerializer):
    drug_class_label = serializers.CharField(source="get_drug_class_display", read_only=True)

    class Meta:
        model = Drug
        fields = [
            "id",
            "code",
            "name",
            "drug_class",
            "drug_class_label",
            "controlled",
            "schedule",
            "default_route",
            "default_unit",
            "synonyms",
            "active",
            "created_at",
            "updated_at",
        ]


# --- Detox courses -------------------------------------------------------------------------------------


class DetoxCourseOutputSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = DetoxCourse
        fields = [
            "id",
            "episode",
            "patient",
            "started_at",
            "started_by",
            "ended_at",
            "ended_by",
            "active",
            "round_interval_minutes",
            "interval_set_by",
            "interval_set_at",
            "interval_reason",
            "created_at",
            "updated_at",
        ]


class DetoxCourseUpdateSerializer(serializers.Serializer):
    round_interval_minutes = serializers.IntegerField(
        min_value=MIN_ROUND_INTERVAL_MINUTES,
        max_value=MAX_ROUND_INTERVAL_MINUTES,
        help_text="Minutes between observation rounds (default 240: every 4 hours).",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


# --- Observation rounds --------------------------------------------------------------------------------


class VitalsSchemaSerializer(serializers.Serializer):
    """Vital signs with their units in their names or below; every one is required for a round."""

    pulse = serializers.IntegerField(help_text="beats/min (20-250)")
    systolic_bp = serializers.IntegerField(help_text="mmHg (50-300)")
    diastolic_bp = serializers.IntegerField(help_text="mmHg (20-200), lower than the systolic")
    temperature_c = serializers.FloatField(help_text="°C (30-45); not °F")
    respiratory_rate = serializers.IntegerField(help_text="breaths/min (4-60)")
    spo2 = serializers.IntegerField(help_text="% (50-100)")


@extend_schema_field(VitalsSchemaSerializer)
class VitalsField(serializers.JSONField):
    """Validated by the service against treatment.vitals, so every problem is named as `vitals.<key>`."""


@extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
class ResponsesField(serializers.JSONField):
    """Item key -> value; scored by the server."""


class ScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Observation
        fields = ["id", "instrument", "total", "band", "observed_at", "definition_version"]


class ObservationRoundOutputSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)
    cows = ScoreSerializer(read_only=True, allow_null=True)
    ciwa_ar = ScoreSerializer(read_only=True, allow_null=True)
    vitals = serializers.SerializerMethodField()
    vital_units = serializers.SerializerMethodField()

    class Meta:
        model = ObservationRound
        fields = [
            "id",
            "course",
            "episode",
            "patient",
            "sequence",
            "due_at",
            "status",
            "overdue_at",
            "observed_at",
            "recorded_by",
            "cows",
            "ciwa_ar",
            "vitals",
            "vital_units",
            "note",
            "cancelled_at",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(VitalsSchemaSerializer(allow_null=True))
    def get_vitals(self, observation_round) -> dict | None:
        if observation_round.status != ObservationRound.Status.COMPLETED:
            return None
        vitals = observation_round.vitals
        vitals["temperature_c"] = float(vitals["temperature_c"])
        return vitals

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_vital_units(self, observation_round) -> dict:
        return VITAL_UNITS


class RoundRecordSerializer(serializers.Serializer):
    cows = ResponsesField(help_text="COWS responses (item key -> value), scored by the server.")
    ciwa_ar = ResponsesField(
        required=False, allow_null=True, help_text="CIWA-Ar responses; required when alcohol is co-used."
    )
    vitals = VitalsField(help_text="pulse, systolic_bp, diastolic_bp, temperature_c, respiratory_rate, spo2.")
    observed_at = serializers.DateTimeField(required=False, help_text="Defaults to now; not in the future.")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


# --- Medication orders ---------------------------------------------------------------------------------


class MedicationOrderOutputSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)
    drug = serializers.SlugRelatedField(slug_field="code", read_only=True)
    drug_name = serializers.CharField(source="drug.name", read_only=True)
    drug_class = serializers.CharField(source="drug.drug_class", read_only=True)
    controlled = serializers.BooleanField(source="drug.controlled", read_only=True)
    prn = serializers.BooleanField(source="is_prn", read_only=True)
    active_now = serializers.SerializerMethodField()

    class Meta:
        model = MedicationOrder
        fields = [
            "id",
            "episode",
            "patient",
            "drug",
            "drug_name",
            "drug_class",
            "controlled",
            "dose",
            "dose_unit",
            "route",
            "frequency",
            "prn",
            "indication",
            "min_interval_minutes",
            "max_doses_per_24h",
            "prn_instrument",
            "prn_min_band",
            "starts_at",
            "stops_at",
            "instructions",
            "prescriber",
            "allergy_conflicts",
            "allergy_override_reason",
            "status",
            "active_now",
            "discontinued_at",
            "discontinued_by",
            "discontinue_reason",
            "created_at",
            "updated_at",
        ]

    def get_active_now(self, order) -> bool:
        return order.status == MedicationOrder.Status.ACTIVE and order.active_at(timezone.now())


class MedicationOrderCreateSerializer(serializers.Serializer):
    episode = serializers.UUIDField()
    drug = serializers.SlugRelatedField(slug_field="code", queryset=Drug.objects.all(), help_text="A catalogue code.")
    dose = serializers.DecimalField(max_digits=9, decimal_places=3)
    dose_unit = serializers.ChoiceField(choices=DoseUnit.choices)
    route = serializers.ChoiceField(choices=Route.choices, required=False, help_text="Defaults to the drug's route.")
    frequency = serializers.ChoiceField(choices=Frequency.choices)
    starts_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    stops_at = serializers.DateTimeField(required=False, allow_null=True)
    indication = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    min_interval_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_doses_per_24h = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    prn_instrument = serializers.ChoiceField(choices=WITHDRAWAL_INSTRUMENTS, required=False, allow_blank=True)
    prn_min_band = serializers.CharField(required=False, allow_blank=True, max_length=32)
    instructions = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    allergy_override_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DiscontinueSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


# --- Medication administrations ------------------------------------------------------------------------


class MedicationAdministrationOutputSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)
    drug = serializers.CharField(source="order.drug.code", read_only=True)

    class Meta:
        model = MedicationAdministration
        fields = [
            "id",
            "order",
            "episode",
            "patient",
            "drug",
            "outcome",
            "scheduled_for",
            "administered_at",
            "dose",
            "dose_unit",
            "route",
            "reason",
            "observation",
            "recorded_by",
            "created_at",
            "updated_at",
        ]


class MedicationAdministrationCreateSerializer(serializers.Serializer):
    order = serializers.UUIDField()
    outcome = serializers.ChoiceField(choices=MedicationAdministration.Outcome.choices)
    administered_at = serializers.DateTimeField(required=False, help_text="Defaults to now; not in the future.")
    scheduled_for = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Scheduled orders: the dose time (as the MAR lists it)."
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


# --- The MAR -------------------------------------------------------------------------------------------


class ScheduledDoseSerializer(serializers.Serializer):
    scheduled_for = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=["not_recorded", *MedicationAdministration.Outcome.values])
    administration = serializers.UUIDField(source="administration.pk", allow_null=True, default=None)


class PrnStatusSerializer(serializers.Serializer):
    allowed_now = serializers.BooleanField(help_text="Whether a PRN dose may be given now.")
    next_allowed_at = serializers.DateTimeField(allow_null=True)
    doses_in_last_24h = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Why not, when not allowed.")
    score = ScoreSerializer(allow_null=True, help_text="The latest score of the order's instrument.")


class MarRowSerializer(serializers.Serializer):
    order = MedicationOrderOutputSerializer()
    active = serializers.BooleanField()
    administrations = MedicationAdministrationOutputSerializer(many=True)
    scheduled_doses = ScheduledDoseSerializer(many=True)
    prn = PrnStatusSerializer(allow_null=True)


class MarSerializer(serializers.Serializer):
    episode = serializers.UUIDField(source="episode.pk")
    generated_at = serializers.DateTimeField()
    latest_scores = serializers.DictField(child=ScoreSerializer(), help_text="Instrument -> its latest score.")
    rows = MarRowSerializer(many=True)


# --- Withdrawal timeline -------------------------------------------------------------------------------


class PhaseSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    from_hour = serializers.FloatField()
    until_hour = serializers.FloatField(allow_null=True)
    expect = serializers.CharField()


class TrendSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["rising", "falling", "stable", "insufficient_data"])
    latest = serializers.IntegerField(allow_null=True)
    latest_at = serializers.DateTimeField(allow_null=True)
    previous = serializers.IntegerField(allow_null=True)
    change = serializers.IntegerField(allow_null=True)
    peak = serializers.IntegerField(allow_null=True)
    peak_at = serializers.DateTimeField(allow_null=True)
    count = serializers.IntegerField()


class WithdrawalTimelineSerializer(serializers.Serializer):
    episode = serializers.UUIDField(source="episode.pk")
    generated_at = serializers.DateTimeField()
    last_use = serializers.DateTimeField(allow_null=True, help_text="The latest last use in the substance history.")
    hours_since_last_use = serializers.FloatField(allow_null=True)
    phase = PhaseSerializer(allow_null=True, help_text="The expected phase of withdrawal now.")
    course = DetoxCourseOutputSerializer(allow_null=True)
    trends = serializers.DictField(child=TrendSerializer(), help_text="cows, ciwa_ar -> trend of the totals.")
    pulse_trend = TrendSerializer()
    phases = PhaseSerializer(many=True, help_text="The expected course, for drawing the timeline.")
