from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from clinic.audit.services import audit_record_system
from clinic.errors import NotFound

from .models import Device, User
from .roles import Role, role_may

DEVICE_CLAIM = "device"


@transaction.atomic
def device_sign_in(*, user: User, name: str, user_agent: str, ip_address: str | None) -> tuple[Device, RefreshToken]:
    """A token login: records the device and returns a refresh token bound to it."""
    device = Device.objects.create(user=user, name=name[:200], user_agent=user_agent[:400], ip_address=ip_address)
    refresh = RefreshToken.for_user(user)
    refresh[DEVICE_CLAIM] = str(device.id)
    refresh["role"] = user.role
    audit_record_system(actor=user, action="login", model_label="accounts.device", object_id=device.id)
    return device, refresh


def device_is_active(device_id) -> bool:
    return Device.objects.filter(id=device_id, revoked_at__isnull=True).exists()


def device_touch(*, device_id) -> None:
    Device.objects.filter(id=device_id).update(last_seen_at=timezone.now())


def _user_may_manage(actor: User, device: Device) -> bool:
    if device.user_id == actor.id:
        return role_may(actor.role, "device.revoke")
    if not role_may(actor.role, "device.revoke_any") or device.user.role == Role.CLINIC_ADMIN:
        return False
    return bool(set(device.user.facility_ids()) & set(actor.facility_ids()))


@transaction.atomic
def device_revoke(*, actor: User, device_id) -> Device:
    """Shut a device out: its refresh tokens stop working at once, its access token within minutes."""
    device = Device.objects.select_for_update().select_related("user").filter(id=device_id).first()
    if device is None or not _user_may_manage(actor, device):
        raise NotFound("Not found.")
    if device.revoked_at is None:
        device.revoked_at = timezone.now()
        device.revoked_by = actor
        device.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
        audit_record_system(actor=actor, action="device_revoke", model_label="accounts.device", object_id=device.id)
    return device


@transaction.atomic
def token_sign_out(*, actor: User, refresh: RefreshToken) -> None:
    """Logout: blacklists the refresh token and revokes its device."""
    token = OutstandingToken.objects.filter(jti=refresh["jti"]).first()
    if token is not None:
        BlacklistedToken.objects.get_or_create(token=token)
    device_id = refresh.get(DEVICE_CLAIM)
    if device_id:
        Device.objects.filter(id=device_id, user=actor, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor
        )
    audit_record_system(actor=actor, action="logout", model_label="accounts.device", object_id=device_id or "")
