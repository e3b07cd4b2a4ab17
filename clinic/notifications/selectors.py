from django.db.models import QuerySet

from clinic.accounts.models import User
from clinic.scoping import scope_queryset

from .models import Reminder


def reminder_list(*, actor: User) -> QuerySet[Reminder]:
    """Reminders the actor may see: their facilities' for staff, their own for a patient."""
    return scope_queryset(Reminder.objects.all(), actor)
