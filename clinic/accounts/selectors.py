from django.db.models import Q, QuerySet

from .models import Device, User
from .roles import Role, role_may


def device_list(*, actor: User) -> QuerySet[Device]:
    """The caller's own devices; a clinic admin also sees those of the staff and patients of their facilities
    (patient accounts belong to their patient's facility through `User.facilities`)."""
    own = Q(user=actor)
    if role_may(actor.role, "device.view_any"):
        others = Q(user__facilities__in=actor.facility_ids()) & ~Q(user__role=Role.CLINIC_ADMIN)
        return Device.objects.filter(own | others).distinct().select_related("user")
    return Device.objects.filter(own).select_related("user")
