"""The platform's own dashboard tiles: reminders that could not be delivered."""

from django.db.models import Count, Q

from clinic.notifications.models import Reminder
from clinic.scoping import scope_queryset

from .registry import Tile, changelist_url, register_dashboard_tile


def reminder_tiles(request):
    counts = scope_queryset(Reminder.objects.all(), request.user).aggregate(
        failed=Count("pk", filter=Q(status=Reminder.Status.FAILED)),
        suppressed=Count("pk", filter=Q(status=Reminder.Status.SUPPRESSED)),
    )
    return [
        Tile(
            title="Reminders not delivered",
            figure=counts["failed"],
            url=changelist_url(request, Reminder, status__exact=Reminder.Status.FAILED),
            severity="attention" if counts["failed"] else "ok",
            group="Messages",
            note="Retry them from the list once the cause is fixed.",
        ),
        Tile(
            title="Reminders withheld",
            figure=counts["suppressed"],
            url=changelist_url(request, Reminder, status__exact=Reminder.Status.SUPPRESSED),
            group="Messages",
            note="No consent, channel or address for them.",
        ),
    ]


register_dashboard_tile(reminder_tiles, action="reminder.view", order=900)
