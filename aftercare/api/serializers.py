from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.api.serializers import FieldsBuiltOnceMixin
from patients.models import Patient, SubstanceUseHistory
from treatment.api.serializers import StaffField

from ..models import (
    CheckIn,
    CopingStrategy,
    ProviderCheckIn,
    Relapse,
    RelapsePreventionPlan,
    RelapseTrigger,
    TriggerCategory,
)
from ..plan_content import WEEKDAYS, SupportGroupKind

# --- The plan's lists (documented shapes; the service checks and normalises them) ----------------------


class SupportContactSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    relationship = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, help_text="Stored as E.164.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, help_text="e.g. when to call.")


class SupportGroupSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=list(SupportGroupKind.CHOICES.items()))
    day = serializers.ChoiceField(choices=[(day, day.title()) for day in WEEKDAYS], required=False, allow_blank=True)
    time = serializers.CharField(max_length=5, required=False, allow_blank=True, help_text="HH:MM, local.")
    place = serializers.CharField(max_length=300, required=False, allow_blank=True)
    link = serializers.URLField(max_length=500, required=False, allow_blank=True, help_text="For online meetings.")


@extend_schema_field(SupportContactSerializer(many=True))
class SupportContactsField(serializers.JSONField):
    pass


@extend_schema_field(SupportGroupSerializer(many=True))
class SupportGroupsField(serializers.JSONField):
    pass


@extend_schema_field(serializers.ListField(child=serializers.CharField(max_length=500)))
class TextListField(serializers.JSONField):
    pass


# --- Plans ---------------------------------------------------------------------------------------------


class CopingStrategyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CopingStrategy
        fields = ["id", "text", "authored_by_patient", "created_at"]


class TriggerOutputSerializer(serializers.ModelSerializer):
    coping_strategies = CopingStrategyOutputSerializer(many=True, read_only=True)

    class Meta:
        model = RelapseTrigger
        fields = ["id", "category", "description", "authored_by_patient", "coping_strategies", "created_at"]


class PlanOutputSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)
    triggers = TriggerOutputSerializer(many=True, read_only=True)
    craving_action_plan = TextListField(read_only=True)
    support_contacts = SupportContactsField(read_only=True)
    support_groups = SupportGroupsField(read_only=True)
    reasons_for_recovery = TextListField(read_only=True)

    class Meta:
        model = RelapsePreventionPlan
        fields = [
            "id",
            "episode",
            "patient",
            "triggers",
            "craving_action_plan",
            "support_contacts",
            "support_groups",
            "reasons_for_recovery",
            "check_in_prompt_time",
            "aftercare_started_at",
            "created_at",
            "updated_at",
        ]


class TriggerInputSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=TriggerCategory.choices)
    description = serializers.CharField(max_length=500)
    coping_strategies = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, default=list, max_length=30
    )


class TriggerUpdateSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=TriggerCategory.choices, required=False)
    description = serializers.CharField(max_length=500, required=False)


class CopingStrategyInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=500)


class PlanUpdateSerializer(serializers.Serializer):
    craving_action_plan = TextListField(required=False, help_text="The steps to take when a craving comes.")
    support_contacts = SupportContactsField(required=False)
    support_groups = SupportGroupsField(required=False, help_text="Each with a meeting place or a link.")
    reasons_for_recovery = TextListField(required=False, help_text='"My why".')
    check_in_prompt_time = serializers.TimeField(required=False, allow_null=True)
    aftercare_started_at = serializers.DateTimeField(
        required=False,
        help_text="In aftercare only: move the start back to the day the patient left the programme; the "
        "follow-ups still scheduled move with it.",
    )


class PlanCreateSerializer(PlanUpdateSerializer):
    episode = serializers.UUIDField()
    triggers = TriggerInputSerializer(many=True, required=False, default=list)
    aftercare_started_at = None


class PromptTimeSerializer(serializers.Serializer):
    check_in_prompt_time = serializers.TimeField(
        allow_null=True, help_text="Local time of the daily prompt in your time zone; null: no prompt."
    )


# --- Provider check-ins --------------------------------------------------------------------------------


class ProviderCheckInOutputSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)

    class Meta:
        model = ProviderCheckIn
        fields = [
            "id",
            "episode",
            "patient",
            "provider",
            "offset_days",
            "due_at",
            "missed_after",
            "status",
            "completed_at",
            "completed_by",
            "outcome",
            "note",
            "cancelled_at",
            "created_at",
            "updated_at",
        ]


class ProviderCheckInUpdateSerializer(serializers.Serializer):
    provider = StaffField(required=False)
    due_at = serializers.DateTimeField(required=False)


class ProviderCheckInCompleteSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=ProviderCheckIn.Outcome.choices)
    note = serializers.CharField(max_length=4000)
    completed_at = serializers.DateTimeField(required=False, help_text="When it took place (default: now).")


# --- Self check-ins ------------------------------------------------------------------------------------


class CheckInOutputSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    triggers = TextListField(read_only=True)

    class Meta:
        model = CheckIn
        fields = [
            "id",
            "patient",
            "episode",
            "craving",
            "mood",
            "used",
            "triggers",
            "note",
            "checked_in_at",
            "local_date",
            "created_at",
            "updated_at",
        ]


class CheckInInputSerializer(serializers.Serializer):
    craving = serializers.IntegerField(min_value=0, max_value=10)
    mood = serializers.IntegerField(min_value=0, max_value=10)
    used = serializers.BooleanField(help_text="Any use since the last check-in.")
    triggers = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=30
    )
    note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    checked_in_at = serializers.DateTimeField(
        required=False, help_text="When the check-in was made, for one made offline (default: now)."
    )


# --- Relapses and readmission --------------------------------------------------------------------------


class RelapseOutputSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)

    class Meta:
        model = Relapse
        fields = [
            "id",
            "episode",
            "patient",
            "occurred_on",
            "substance",
            "context",
            "what_helped",
            "recorded_by",
            "readmission",
            "created_at",
            "updated_at",
        ]


class RelapseInputSerializer(serializers.Serializer):
    episode = serializers.UUIDField()
    occurred_on = serializers.DateField()
    substance = serializers.ChoiceField(choices=SubstanceUseHistory.Substance.choices)
    context = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    what_helped = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class ReadmitInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)
    relapse = serializers.UUIDField(required=False, allow_null=True, help_text="The relapse that led to it.")


# --- Outcomes ------------------------------------------------------------------------------------------


class EpisodeOutcomeSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The episode's id.")
    patient = serializers.UUIDField(source="episode.patient_id")
    stage = serializers.CharField(source="episode.stage")
    aftercare_started_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(source="episode.closed_at", allow_null=True)
    days_since_discharge = serializers.IntegerField(help_text="Whole days since entering aftercare.")
    check_in_days = serializers.IntegerField(help_text="Patient-local days with a self check-in in aftercare.")
    expected_check_in_days = serializers.IntegerField()
    check_in_adherence = serializers.FloatField(allow_null=True, help_text="0 to 1; null before a full day.")
    provider_check_ins_due = serializers.IntegerField(help_text="Completed or missed so far.")
    provider_check_ins_completed = serializers.IntegerField()
    provider_check_ins_on_time = serializers.IntegerField(help_text="Completed within the grace period.")
    provider_check_ins_missed = serializers.IntegerField()
    provider_on_time_rate = serializers.FloatField(allow_null=True)
    relapses = serializers.IntegerField()
    readmissions = serializers.IntegerField()


class FacilityOutcomeSerializer(serializers.Serializer):
    facility = serializers.UUIDField(source="facility.pk")
    episodes_followed = serializers.IntegerField(help_text="Episodes that entered aftercare.")
    patients_in_aftercare = serializers.IntegerField()
    mean_days_since_discharge = serializers.FloatField(allow_null=True, help_text="Of those in aftercare now.")
    check_in_days = serializers.IntegerField()
    expected_check_in_days = serializers.IntegerField()
    check_in_adherence = serializers.FloatField(allow_null=True)
    provider_check_ins_due = serializers.IntegerField()
    provider_check_ins_completed = serializers.IntegerField()
    provider_check_ins_on_time = serializers.IntegerField()
    provider_check_ins_missed = serializers.IntegerField()
    provider_on_time_rate = serializers.FloatField(allow_null=True)
    relapses = serializers.IntegerField()
    readmissions = serializers.IntegerField()
    readmission_rate = serializers.FloatField(allow_null=True)


# --- The patient's reminder settings (me/reminder-settings/) -------------------------------------------


class ReminderChannelsSerializer(serializers.Serializer):
    sms = serializers.BooleanField(required=False, help_text="Opted in to text messages.")
    email = serializers.BooleanField(required=False, help_text="Opted in to email.")
    push = serializers.BooleanField(required=False, help_text="Opted in to push notifications.")


class ReminderSettingsOutputSerializer(serializers.Serializer):
    channels = ReminderChannelsSerializer(help_text="Per channel: whether you agreed to be reminded on it.")
    preferred_channel = serializers.ChoiceField(choices=Patient.Channel.choices, source="patient.preferred_channel")
    quiet_hours_start = serializers.TimeField(source="patient.quiet_hours_start", allow_null=True)
    quiet_hours_end = serializers.TimeField(source="patient.quiet_hours_end", allow_null=True)
    timezone = serializers.CharField(source="patient.timezone", help_text="Change it in me/profile/.")
    daily_check_in_time = serializers.TimeField(
        allow_null=True, help_text="Local time of the daily check-in prompt; null: no prompt (or no plan yet)."
    )
    daily_check_in_available = serializers.SerializerMethodField(
        help_text="False until your care team writes your relapse-prevention plan: no time can be set before."
    )

    def get_daily_check_in_available(self, settings) -> bool:
        return settings.plan is not None


class ReminderSettingsUpdateSerializer(serializers.Serializer):
    channels = ReminderChannelsSerializer(required=False, help_text="Only the channels you name change.")
    preferred_channel = serializers.ChoiceField(choices=Patient.Channel.choices, required=False)
    quiet_hours_start = serializers.TimeField(allow_null=True, required=False)
    quiet_hours_end = serializers.TimeField(allow_null=True, required=False)
    daily_check_in_time = serializers.TimeField(allow_null=True, required=False)
