from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from clinic.accounts.roles import role_may
from clinic.accounts.selectors import device_list
from clinic.accounts.services import device_revoke

from .models import Device, Facility, User


def _is_clinic_admin(request) -> bool:
    return request.user.is_active and request.user.is_staff and role_may(request.user.role, "device.view_any")


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["name", "timezone"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(id__in=request.user.facility_ids())

    def has_module_permission(self, request):
        return _is_clinic_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_clinic_admin(request)

    def has_change_permission(self, request, obj=None):
        return _is_clinic_admin(request)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Clinic admins manage the accounts of their own facilities' staff."""

    list_display = ["username", "first_name", "last_name", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email")}),
        ("Work", {"fields": ("role", "facilities", "is_active", "is_staff")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"fields": ("username", "role", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined"]
    filter_horizontal = ["facilities"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(facilities__in=request.user.facility_ids()).distinct()

    def has_module_permission(self, request):
        return _is_clinic_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_clinic_admin(request)

    def has_change_permission(self, request, obj=None):
        return _is_clinic_admin(request)

    def has_add_permission(self, request):
        return _is_clinic_admin(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "facilities":
            kwargs["queryset"] = Facility.objects.filter(id__in=request.user.facility_ids())
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "created_at", "last_seen_at", "revoked_at"]
    list_filter = ["revoked_at"]
    readonly_fields = ["user", "name", "user_agent", "ip_address", "last_seen_at", "revoked_at", "revoked_by"]
    actions = ["revoke_devices"]

    def get_queryset(self, request):
        return device_list(actor=request.user)

    def has_module_permission(self, request):
        return _is_clinic_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_clinic_admin(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Sign the selected devices out")
    def revoke_devices(self, request, queryset):
        for device in queryset:
            device_revoke(actor=request.user, device_id=device.id)
        self.message_user(request, f"{queryset.count()} device(s) signed out.")
