import uuid

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenRefreshView

from clinic.accounts import services
from clinic.accounts.models import Device, User
from clinic.accounts.profile import user_profile
from clinic.accounts.selectors import device_list
from clinic.api.throttling import LoginAccountThrottle, LoginAddressThrottle

from .serializers import (
    DeviceOutputSerializer,
    LogoutInputSerializer,
    MeOutputSerializer,
    TokenObtainInputSerializer,
    TokenPairOutputSerializer,
)


class TokenObtainView(APIView):
    """Log in with username and password; returns a JWT pair bound to a new signed-in device."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginAddressThrottle, LoginAccountThrottle]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'  # makes a failed login a 401, not a 403

    @extend_schema(request=TokenObtainInputSerializer, responses={200: TokenPairOutputSerializer}, auth=[])
    def post(self, request):
        serializer = TokenObtainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("No active account found with the given credentials.")
        device, refresh = services.device_sign_in(
            user=user,
            name=data.get("device_name", ""),
            user_agent=request.headers.get("User-Agent", ""),
            ip_address=request.META.get("REMOTE_ADDR"),
        )
        return Response({"access": str(refresh.access_token), "refresh": str(refresh), "device": str(device.id)})


class DeviceBoundRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        try:
            token = RefreshToken(attrs["refresh"])
        except TokenError as error:
            raise InvalidToken(error.args[0]) from error
        device_id = token.get(services.DEVICE_CLAIM)
        if not device_id or not services.device_is_active(device_id):
            raise exceptions.AuthenticationFailed("This device has been signed out.", code="device_revoked")
        try:
            data = super().validate(attrs)
        except User.DoesNotExist as error:
            raise exceptions.AuthenticationFailed("No active account found for the given token.") from error
        services.device_touch(device_id=device_id)
        return data


class TokenRotateView(TokenRefreshView):
    """Exchange a refresh token for a new access token and a new refresh token (the old one is blacklisted)."""

    serializer_class = DeviceBoundRefreshSerializer
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginAddressThrottle]


class LogoutView(APIView):
    action_permissions = {"post": "me.view"}

    @extend_schema(request=LogoutInputSerializer, responses={204: None})
    def post(self, request):
        serializer = LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(serializer.validated_data["refresh"])
        except TokenError as error:
            raise exceptions.ValidationError({"refresh": [str(error.args[0])]}) from error
        if str(refresh.get("user_id")) != str(request.user.id):
            raise exceptions.ValidationError({"refresh": ["This token does not belong to you."]})
        services.token_sign_out(actor=request.user, refresh=refresh)
        return Response(status=204)


class MeView(APIView):
    """Who you are: your role, facilities and, for a patient account, your patient record's id."""

    action_permissions = {"get": "me.view"}

    @extend_schema(responses={200: MeOutputSerializer})
    def get(self, request):
        return Response(MeOutputSerializer(user_profile(request.user)).data)


class DeviceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Signed-in devices: your own, and for a clinic admin those of their facilities' users."""

    queryset = Device.objects.none()
    serializer_class = DeviceOutputSerializer
    action_permissions = {"list": "device.view", "revoke": "device.revoke"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return device_list(actor=self.request.user)

    @extend_schema(request=None, responses={200: DeviceOutputSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        device = services.device_revoke(actor=request.user, device_id=self._device_id(pk))
        return Response(DeviceOutputSerializer(device).data)

    @staticmethod
    def _device_id(pk):
        try:
            return uuid.UUID(str(pk))
        except ValueError as error:
            raise exceptions.NotFound() from error
