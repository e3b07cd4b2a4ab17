"""The admin's side of scoping, roles and auditing: the same rules as the API, applied to admin pages.

A ModelAdmin based on `ScopedModelAdmin` shows only rows in the user's scope (`scope_queryset`), grants
view/add/change/delete from the role table (nothing when an action is not named), and records an audit
event for every change form it shows and every row of every change list page. Writes go through the
domain services in `save_model`/`delete_model` overrides, never through a second copy of a rule.
"""

from django.contrib import admin

from clinic.accounts.models import Facility
from clinic.accounts.roles import role_may
from clinic.audit.services import audit_record_reads
from clinic.scoping import model_scope, scope_queryset


def _may(request, action: str | None) -> bool:
    user = request.user
    return bool(action) and user.is_active and user.is_staff and role_may(getattr(user, "role", None), action)


class ScopedAdminMixin:
    view_action: str | None = None
    add_action: str | None = None
    change_action: str | None = None
    delete_action: str | None = None
    audit_reads = True

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return _may(request, self.view_action)

    def has_view_permission(self, request, obj=None):
        return _may(request, self.view_action)

    def has_add_permission(self, request, *args):
        return _may(request, self.add_action)

    def has_change_permission(self, request, obj=None):
        return _may(request, self.change_action)

    def has_delete_permission(self, request, obj=None):
        return _may(request, self.delete_action)


class FacilityFilter(admin.SimpleListFilter):
    """One of the caller's facilities, for staff who work in several (`?facility=<id>`, as the dashboard's
    links use). Offered only to them: for everybody else the list already shows just their facility."""

    title = "facility"
    parameter_name = "facility"

    def lookups(self, request, model_admin):
        ids = request.user.facility_ids()
        if len(ids) < 2:
            return []
        return [(str(pk), name) for pk, name in Facility.objects.filter(id__in=ids).values_list("id", "name")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() not in {str(pk) for pk in request.user.facility_ids()}:
            return queryset.none()
        return queryset.filter(**{model_scope(queryset.model).facility: self.value()})


class ScopedModelAdmin(ScopedAdminMixin, admin.ModelAdmin):
    def get_list_filter(self, request):
        """The facility filter, unless the admin already filters by the model's facility itself."""
        list_filter = list(super().get_list_filter(request))
        if model_scope(self.model).facility in list_filter:
            return list_filter
        return [FacilityFilter, *list_filter]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        if self.audit_reads:
            audit_record_reads(actor=request.user, action="list", instances=changelist.result_list)
        return changelist

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        # Audited only when the page will show it: a role without the view action gets a 403, not a read.
        readable = obj is not None and self.has_view_or_change_permission(request, obj)
        if readable and self.audit_reads and request.method == "GET":
            audit_record_reads(actor=request.user, action="view", instances=[obj])
        return obj


class ScopedInline(ScopedAdminMixin, admin.TabularInline):
    """Inline rows are scoped by their parent; permissions still come from the role table."""

    extra = 0

    def get_queryset(self, request):
        return admin.TabularInline.get_queryset(self, request)
