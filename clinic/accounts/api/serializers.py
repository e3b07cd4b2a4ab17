from rest_framework import serializers

from clinic.accounts.models import Device


class TokenObtainInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    device_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    device = serializers.UUIDField()


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class FacilityRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class MeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    role = serializers.CharField()
    facilities = FacilityRefSerializer(many=True)
    patient = serializers.UUIDField(allow_null=True, required=False)


class DeviceOutputSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")

    class Meta:
        model = Device
        fields = ["id", "user", "name", "user_agent", "created_at", "last_seen_at", "revoked_at"]
