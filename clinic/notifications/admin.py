from django.contrib import admin, messages

from clinic.accounts.roles import role_may
from clinic.admin_scoping import ScopedModelAdmin
from clinic.errors import Conflict

from . import services
from .models import Reminder


@admin.register(Reminder)
class ReminderAdmin(ScopedModelAdmin):
    """Delivery status at a glance; read-only apart from retrying failed reminders (through the service)."""

    view_action = "reminder.view"
    list_display = [
        "send_at",
        "kind",
        "channel",
        "status",
        "attempts",
        "last_error",
        "suppressed_reason",
        "patient",
        "staff",
        "facility",
    ]
    list_filter = ["status", "kind", "channel", "suppressed_reason", "facility"]
    list_select_related = ["facility", "patient", "staff"]
    search_fields = ["=subject_id"]
    date_hierarchy = "send_at"
    ordering = ["-send_at"]
    actions = ["retry_selected"]
    readonly_fields = [
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
        "claimed_until",
        "subject_type",
        "subject_id",
        "context",
        "created_at",
        "updated_at",
    ]
    exclude = ["idempotency_key"]

    def has_retry_permission(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_staff and role_may(getattr(user, "role", None), "reminder.retry")

    @admin.action(description="Retry the selected failed reminders", permissions=["retry"])
    def retry_selected(self, request, queryset):
        retried = skipped = 0
        for reminder in queryset:
            try:
                services.reminder_retry(actor=request.user, reminder=reminder)
                retried += 1
            except Conflict:
                skipped += 1
        if retried:
            self.message_user(request, f"{retried} reminder(s) will be sent again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} reminder(s) were not failed and were left alone.", messages.WARNING)
