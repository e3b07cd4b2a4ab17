import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action

from clinic.api.filters import SyncFilterSet
from clinic.api.views import ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet
from clinic.notifications import services
from clinic.notifications.models import Reminder

from .serializers import ReminderOutputSerializer


class ReminderFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    staff = django_filters.NumberFilter(field_name="staff_id")
    # One table, no join: a reminder matches once, so no DISTINCT (which would sort every match on all columns).
    status = django_filters.MultipleChoiceFilter(choices=Reminder.Status.choices, distinct=False)
    kind = django_filters.MultipleChoiceFilter(choices=Reminder.Kind.choices, distinct=False)
    channel = django_filters.ChoiceFilter(choices=Reminder.Channel.choices)

    class Meta:
        model = Reminder
        fields = ["patient", "staff", "status", "kind", "channel", "updated_since"]


class ReminderViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Reminders to patients and staff with their delivery status. Patients see their own, read-only."""

    queryset = Reminder.objects.all()
    serializer_class = ReminderOutputSerializer
    output_serializer_class = ReminderOutputSerializer
    filterset_class = ReminderFilter
    action_permissions = {"list": "reminder.view", "retrieve": "reminder.view", "retry": "reminder.retry"}

    @extend_schema(request=None, responses={200: ReminderOutputSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Send a failed reminder again, with a fresh set of attempts (409 unless it is `failed`)."""
        reminder = services.reminder_retry(actor=request.user, reminder=self.get_object())
        return self.output(reminder)
