from rest_framework import serializers

from clinic.accounts.models import Facility
from patients.models import Patient

PATIENT_FIELDS = [
    "id", "mrn", "first_name", "last_name", "date_of_birth", "sex", "phone", "email", "timezone",
    "preferred_channel", "quiet_hours_start", "quiet_hours_end", "status", "facility", "created_at",
    "updated_at",
]


class PatientOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = PATIENT_FIELDS


class PatientInputSerializer(serializers.ModelSerializer):
    facility = serializers.PrimaryKeyRelatedField(queryset=Facility.objects.all(), required=False)

    class Meta:
        model = Patient
        fields = [
            "first_name", "last_name", "date_of_birth", "sex", "phone", "email", "timezone",
            "preferred_channel", "quiet_hours_start", "quiet_hours_end", "status", "facility",
        ]
