from rest_framework import serializers

from clinic.accounts.models import Facility
from clinic.api.serializers import FieldsBuiltOnceMixin
from patients.models import (
    Allergy,
    CommunicationConsent,
    CoOccurringCondition,
    Disclosure,
    DisclosureConsent,
    Patient,
    PatientContact,
    SubstanceUseHistory,
)
from patients.services import PATIENT_PROFILE_FIELDS

PATIENT_FIELDS = [
    "id",
    "mrn",
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "phone",
    "email",
    "timezone",
    "preferred_channel",
    "quiet_hours_start",
    "quiet_hours_end",
    "status",
    "facility",
    "created_at",
    "updated_at",
]
PATIENT_WRITABLE_FIELDS = [
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "phone",
    "email",
    "timezone",
    "preferred_channel",
    "quiet_hours_start",
    "quiet_hours_end",
    "status",
]
RECORD_FIELDS = ["id", "patient", "created_at", "updated_at"]


class PatientOutputSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = PATIENT_FIELDS


class PatientUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = PATIENT_WRITABLE_FIELDS


class PatientCreateSerializer(PatientUpdateSerializer):
    facility = serializers.PrimaryKeyRelatedField(queryset=Facility.objects.all(), required=False)
    confirm_new_person = serializers.BooleanField(
        default=False, help_text="Register even though a possible duplicate exists (after checking it)."
    )

    class Meta(PatientUpdateSerializer.Meta):
        fields = [*PATIENT_WRITABLE_FIELDS, "facility", "confirm_new_person"]


class ProfileOutputSerializer(serializers.ModelSerializer):
    consented_channels = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "id",
            "mrn",
            "first_name",
            "last_name",
            "date_of_birth",
            "phone",
            "email",
            "timezone",
            "preferred_channel",
            "quiet_hours_start",
            "quiet_hours_end",
            "consented_channels",
        ]

    def get_consented_channels(self, patient) -> list[str]:
        return sorted(self.context["consented_channels"])


class ProfileUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = sorted(PATIENT_PROFILE_FIELDS)


# Sub-resources. Each has an output serializer, an update serializer (no `patient`: a record never moves
# to another patient) and a create serializer that adds the `patient` id, which the view resolves in scope.


class SubstanceUseOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubstanceUseHistory
        fields = [
            *RECORD_FIELDS,
            "substance",
            "substance_other",
            "route",
            "amount",
            "amount_unit",
            "frequency",
            "years_of_use",
            "age_at_first_use",
            "last_use",
            "notes",
        ]


class SubstanceUseUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubstanceUseHistory
        fields = [
            "substance",
            "substance_other",
            "route",
            "amount",
            "amount_unit",
            "frequency",
            "years_of_use",
            "age_at_first_use",
            "last_use",
            "notes",
        ]


class SubstanceUseCreateSerializer(SubstanceUseUpdateSerializer):
    patient = serializers.UUIDField()

    class Meta(SubstanceUseUpdateSerializer.Meta):
        fields = ["patient", *SubstanceUseUpdateSerializer.Meta.fields]


class ConditionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CoOccurringCondition
        fields = [*RECORD_FIELDS, "name", "icd10_code", "status", "onset_date", "resolved_date", "notes"]


class ConditionUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = CoOccurringCondition
        fields = ["name", "icd10_code", "status", "onset_date", "resolved_date", "notes"]


class ConditionCreateSerializer(ConditionUpdateSerializer):
    patient = serializers.UUIDField()

    class Meta(ConditionUpdateSerializer.Meta):
        fields = ["patient", *ConditionUpdateSerializer.Meta.fields]


class AllergyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Allergy
        fields = [*RECORD_FIELDS, "substance", "reaction", "severity"]


class AllergyUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Allergy
        fields = ["substance", "reaction", "severity"]


class AllergyCreateSerializer(AllergyUpdateSerializer):
    patient = serializers.UUIDField()

    class Meta(AllergyUpdateSerializer.Meta):
        fields = ["patient", *AllergyUpdateSerializer.Meta.fields]


class ContactOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PatientContact
        fields = [*RECORD_FIELDS, "kind", "name", "relationship", "phone", "email", "may_contact", "notes"]


class ContactUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = PatientContact
        fields = ["kind", "name", "relationship", "phone", "email", "may_contact", "notes"]


class ContactCreateSerializer(ContactUpdateSerializer):
    patient = serializers.UUIDField()

    class Meta(ContactUpdateSerializer.Meta):
        fields = ["patient", *ContactUpdateSerializer.Meta.fields]


class MyContactUpdateSerializer(serializers.ModelSerializer):
    """A patient's change to one of their support contacts (its kind stays support)."""

    class Meta:
        model = PatientContact
        fields = ["name", "relationship", "phone", "email", "may_contact", "notes"]


class MyContactCreateSerializer(MyContactUpdateSerializer):
    kind = serializers.ChoiceField(
        choices=[PatientContact.Kind.SUPPORT],
        default=PatientContact.Kind.SUPPORT,
        help_text="Only support contacts are added from the app; emergency contacts are kept by the clinic.",
    )

    class Meta(MyContactUpdateSerializer.Meta):
        fields = ["kind", *MyContactUpdateSerializer.Meta.fields]


class PatientTransferSerializer(serializers.Serializer):
    facility = serializers.UUIDField(help_text="The facility the patient moves to (you work in both).")
    reason = serializers.CharField(max_length=500)


class CommunicationConsentOutputSerializer(serializers.ModelSerializer):
    recorded_by = serializers.CharField(source="recorded_by.username", default=None, allow_null=True, read_only=True)

    class Meta:
        model = CommunicationConsent
        fields = [*RECORD_FIELDS, "channel", "action", "source", "occurred_at", "recorded_by", "note"]


class CommunicationConsentCreateSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(required=False, help_text="Required for staff; a patient records their own.")
    source = serializers.ChoiceField(
        choices=CommunicationConsent.Source.choices,
        required=False,
        help_text="Staff: where the choice came from. A patient's own choice is always patient_app.",
    )
    occurred_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")

    class Meta:
        model = CommunicationConsent
        fields = ["patient", "channel", "action", "source", "occurred_at", "note"]


class DisclosureConsentOutputSerializer(serializers.ModelSerializer):
    information_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DisclosureConsent.Information.choices), read_only=True
    )
    recipients = serializers.ListField(child=serializers.CharField(), read_only=True)
    recorded_by = serializers.CharField(source="recorded_by.username", default=None, allow_null=True, read_only=True)
    revoked_by = serializers.CharField(source="revoked_by.username", default=None, allow_null=True, read_only=True)
    in_force = serializers.SerializerMethodField()

    class Meta:
        model = DisclosureConsent
        fields = [
            *RECORD_FIELDS,
            "disclosing_party",
            "information_categories",
            "information_description",
            "recipients",
            "purpose",
            "purpose_description",
            "right_to_revoke_acknowledged",
            "expires_at",
            "expiry_event",
            "signed_by_name",
            "signer_role",
            "signed_at",
            "recorded_by",
            "revoked_at",
            "revoked_by",
            "revocation_reason",
            "in_force",
        ]

    def get_in_force(self, consent) -> bool:
        return consent.is_in_force(self.context["now"])


class DisclosureConsentCreateSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField()
    information_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DisclosureConsent.Information.choices), allow_empty=False
    )
    recipients = serializers.ListField(child=serializers.CharField(max_length=200), allow_empty=False, max_length=20)
    disclosing_party = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Defaults to the patient's facility."
    )

    class Meta:
        model = DisclosureConsent
        fields = [
            "patient",
            "disclosing_party",
            "information_categories",
            "information_description",
            "recipients",
            "purpose",
            "purpose_description",
            "right_to_revoke_acknowledged",
            "expires_at",
            "expiry_event",
            "signed_by_name",
            "signer_role",
            "signed_at",
        ]
        extra_kwargs = {"right_to_revoke_acknowledged": {"required": True}}


class DisclosureRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class DisclosureCheckInputSerializer(serializers.Serializer):
    patient = serializers.UUIDField()
    recipient = serializers.CharField(max_length=200)
    purpose = serializers.ChoiceField(choices=DisclosureConsent.Purpose.choices)
    information = serializers.ListField(
        child=serializers.ChoiceField(choices=DisclosureConsent.Information.choices), allow_empty=False
    )


class DisclosureCheckOutputSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    consent = serializers.UUIDField(allow_null=True)
    reason = serializers.CharField()


# The accounting of disclosures


class ConsentSummarySerializer(serializers.Serializer):
    """The consent as it stood when the disclosure was made (frozen; sent with the records)."""

    consent = serializers.UUIDField()
    disclosing_party = serializers.CharField()
    recipients = serializers.ListField(child=serializers.CharField())
    information_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DisclosureConsent.Information.choices)
    )
    information_description = serializers.CharField()
    purpose = serializers.ChoiceField(choices=DisclosureConsent.Purpose.choices)
    purpose_description = serializers.CharField()
    expires_at = serializers.DateTimeField()
    expiry_event = serializers.CharField()
    signed_by_name = serializers.CharField()
    signer_role = serializers.ChoiceField(choices=DisclosureConsent.SignerRole.choices)
    signed_at = serializers.DateTimeField()
    right_to_revoke_acknowledged = serializers.BooleanField()


class DisclosureOutputSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    information_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DisclosureConsent.Information.choices), read_only=True
    )
    disclosed_by = serializers.CharField(source="disclosed_by.username", read_only=True)
    consent_summary = ConsentSummarySerializer(read_only=True)

    class Meta:
        model = Disclosure
        fields = [
            *RECORD_FIELDS,
            "consent",
            "recipient",
            "information_categories",
            "purpose",
            "description",
            "method",
            "disclosed_at",
            "disclosed_by",
            "notice",
            "consent_summary",
        ]


class DisclosureCreateSerializer(serializers.Serializer):
    consent = serializers.UUIDField(help_text="The consent the disclosure is made under; it names the patient.")
    recipient = serializers.CharField(max_length=200, help_text="One of the consent's recipients.")
    information_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=DisclosureConsent.Information.choices), allow_empty=False
    )
    purpose = serializers.ChoiceField(choices=DisclosureConsent.Purpose.choices)
    description = serializers.CharField(help_text="What was sent: documents, date range, pages.")
    method = serializers.ChoiceField(choices=Disclosure.Method.choices)
    disclosed_at = serializers.DateTimeField(
        required=False, help_text="When the records went out; defaults to now, never in the future."
    )
