from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.accounts.models import User
from clinic.accounts.roles import STAFF_ROLES
from clinic.api.serializers import FieldsBuiltOnceMixin
from patients.models import Patient
from treatment import stages
from treatment.instruments import instrument_choices
from treatment.models import (
    Alert,
    Assessment,
    DischargeReason,
    Episode,
    EpisodeTransition,
    Observation,
    Setting,
    Stage,
)
from treatment.selectors import CARE_TEAM
from treatment.services import ASSESSMENT_FIELDS


@extend_schema_field(OpenApiTypes.INT)
class StaffField(serializers.PrimaryKeyRelatedField):
    """A staff member of one of the caller's facilities (others do not exist for the caller)."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return User.objects.none()
        return User.objects.filter(
            role__in=STAFF_ROLES, is_active=True, facilities__in=request.user.facility_ids()
        ).distinct()


# --- Episodes ------------------------------------------------------------------------------------------

EPISODE_SUMMARY_FIELDS = [
    "id",
    "patient",
    "stage",
    "setting",
    "opened_at",
    "closed_at",
    "previous_episode",
    "created_at",
    "updated_at",
]
CARE_TEAM_FIELDS = ["physician", "nurse", "primary_counselor", "case_manager"]


class EpisodeSummarySerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    """What front desk and the patient see: where the patient is in treatment, nothing clinical."""

    class Meta:
        model = Episode
        fields = EPISODE_SUMMARY_FIELDS


class TransitionOutputSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    actor = serializers.PrimaryKeyRelatedField(read_only=True)
    actor_name = serializers.SerializerMethodField()

    class Meta:
        model = EpisodeTransition
        fields = ["id", "from_stage", "to_stage", "reason", "category", "actor", "actor_name", "occurred_at"]

    def get_actor_name(self, transition) -> str:
        if "actor_username" in transition.__dict__:  # read with its actor's names (selectors.episode_transitions)
            full_name = f"{transition.actor_first_name} {transition.actor_last_name}".strip()  # as get_full_name
            return full_name or transition.actor_username
        return transition.actor.get_full_name() or transition.actor.get_username()


class EpisodeOutputSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    """The clinical view of an episode: its care team and the stages it may move to next."""

    next_stages = serializers.SerializerMethodField(help_text="Targets the stage machine allows from here.")

    class Meta:
        model = Episode
        fields = [*EPISODE_SUMMARY_FIELDS, "discharge_reason", "opened_by", *CARE_TEAM_FIELDS, "next_stages"]

    def get_next_stages(self, episode) -> list[str]:
        return stages.allowed_targets(episode.stage)


class EpisodeDetailOutputSerializer(EpisodeOutputSerializer):
    transitions = TransitionOutputSerializer(many=True, read_only=True, source="transition_rows")

    class Meta(EpisodeOutputSerializer.Meta):
        fields = [*EpisodeOutputSerializer.Meta.fields, "transitions"]


class EpisodeCreateSerializer(serializers.Serializer):
    patient = serializers.UUIDField()
    previous_episode = serializers.UUIDField(required=False, allow_null=True)
    physician = StaffField(required=False, allow_null=True)
    nurse = StaffField(required=False, allow_null=True)
    primary_counselor = StaffField(required=False, allow_null=True)
    case_manager = StaffField(required=False, allow_null=True)


class EpisodeCareTeamSerializer(serializers.Serializer):
    physician = StaffField(required=False, allow_null=True)
    nurse = StaffField(required=False, allow_null=True)
    primary_counselor = StaffField(required=False, allow_null=True)
    case_manager = StaffField(required=False, allow_null=True)


class TransitionInputSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    category = serializers.ChoiceField(
        choices=DischargeReason.choices,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Discharge only: completed, transferred, left_against_advice or other.",
    )


class TransitionConflictSerializer(serializers.Serializer):
    """The 409 body's `details` of a refused transition."""

    stage = serializers.ChoiceField(choices=Stage.choices)
    allowed = serializers.ListField(child=serializers.ChoiceField(choices=Stage.choices))
    unmet = serializers.ListField(child=serializers.CharField(), required=False)


# --- Observations --------------------------------------------------------------------------------------

OBSERVATION_FIELDS = [
    "id",
    "episode",
    "instrument",
    "responses",
    "total",
    "band",
    "flags",
    "definition_version",
    "substance",
    "observed_at",
    "recorded_by",
    "created_at",
    "updated_at",
]


class ObservationOutputSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)

    class Meta:
        model = Observation
        fields = [*OBSERVATION_FIELDS[:2], "patient", *OBSERVATION_FIELDS[2:]]


class ObservationInputSerializer(serializers.Serializer):
    episode = serializers.UUIDField()
    instrument = serializers.ChoiceField(choices=[])
    responses = serializers.JSONField(help_text="Item key -> value; the server validates and scores them.")
    observed_at = serializers.DateTimeField(required=False)
    substance = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="The substance assessed (DSM-5 only)."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instrument"].choices = instrument_choices()  # adding a definition needs nothing else


# --- Alerts --------------------------------------------------------------------------------------------


class AlertOutputSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [
            "id",
            "patient",
            "episode",
            "kind",
            "severity",
            "reason",
            "target_role",
            "target_user",
            "created_at",
            "updated_at",
            "acknowledged_at",
            "acknowledged_by",
        ]


# --- Assessments ---------------------------------------------------------------------------------------


class FiredRuleSerializer(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField()


class AssessmentOutputSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)
    recommendation_rules = FiredRuleSerializer(many=True, read_only=True)
    recommendation_facts = serializers.DictField(read_only=True)
    observations = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    is_override = serializers.BooleanField(read_only=True)

    class Meta:
        model = Assessment
        fields = [
            "id",
            "episode",
            "patient",
            "status",
            *ASSESSMENT_FIELDS,
            "observations",
            "recommended_setting",
            "recommendation_rules",
            "recommendation_facts",
            "recommended_at",
            "recommended_by",
            "accepted_setting",
            "outpatient_intensity",
            "override_reason",
            "is_override",
            "decided_at",
            "decided_by",
            "created_by",
            "created_at",
            "updated_at",
        ]


class AssessmentUpdateSerializer(serializers.ModelSerializer):
    vitals = serializers.JSONField(
        required=False, help_text="pulse, systolic_bp, diastolic_bp, temperature_c, respiratory_rate, spo2"
    )
    urine_drug_screen = serializers.JSONField(
        required=False, help_text="Analyte -> negative, positive, inconclusive or not_tested."
    )
    asam_dimensions = serializers.JSONField(required=False, help_text="d1..d6 -> risk rating 0-4.")

    class Meta:
        model = Assessment
        fields = list(ASSESSMENT_FIELDS)


class AssessmentCreateSerializer(AssessmentUpdateSerializer):
    episode = serializers.UUIDField()

    class Meta(AssessmentUpdateSerializer.Meta):
        fields = ["episode", *ASSESSMENT_FIELDS]


class AssessmentCompleteSerializer(serializers.Serializer):
    accepted_setting = serializers.ChoiceField(choices=Setting.choices)
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=4000,
        help_text="Required when the accepted setting differs from the recommendation "
        "(inpatient and residential both answer an inpatient recommendation).",
    )
    outpatient_intensity = serializers.ChoiceField(
        choices=Assessment.OutpatientIntensity.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required for an outpatient setting.",
    )


# --- The staff app's work lists (me/...) ---------------------------------------------------------------


class MyPatientEpisodeSerializer(serializers.ModelSerializer):
    my_roles = serializers.SerializerMethodField(help_text="Your places on this episode's care team.")

    class Meta:
        model = Episode
        fields = ["id", "stage", "setting", "opened_at", "my_roles"]

    def get_my_roles(self, episode) -> list[str]:
        user_id = self.context["request"].user.pk
        return [slot for slot in CARE_TEAM if getattr(episode, f"{slot}_id") == user_id]


class MyPatientSerializer(serializers.ModelSerializer):
    episode = serializers.SerializerMethodField(help_text="The open episode you are on the care team of.")

    class Meta:
        model = Patient
        fields = ["id", "mrn", "first_name", "last_name", "date_of_birth", "sex", "facility", "episode", "updated_at"]

    @extend_schema_field(MyPatientEpisodeSerializer(allow_null=True))
    def get_episode(self, patient) -> dict | None:
        episodes = getattr(patient, "open_episodes", [])
        return MyPatientEpisodeSerializer(episodes[0], context=self.context).data if episodes else None
