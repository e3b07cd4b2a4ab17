from rest_framework import serializers

from clinic.notifications.models import Reminder


class ReminderOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reminder
        fields = [
            "id",
            "facility",
            "patient",
            "staff",
            "kind",
            "channel",
            "send_at",
            "deliver_after",
            "status",
            "sent_at",
            "attempts",
            "last_error",
            "suppressed_reason",
            "subject_type",
            "subject_id",
            "created_at",
            "updated_at",
        ]
