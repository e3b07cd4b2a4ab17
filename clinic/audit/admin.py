from django.contrib import admin

from clinic.admin_scoping import ScopedModelAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedModelAdmin):
    """Read-only: the audit log is append-only in the database as well."""

    view_action = "audit_event.view"
    audit_reads = False
    list_display = ["id", "occurred_at", "actor_username", "actor_role", "action", "model", "object_id", "source"]
    list_filter = ["action", "source", "actor_role", "model"]
    search_fields = ["=object_id", "=patient_id", "=request_id", "actor_username"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
