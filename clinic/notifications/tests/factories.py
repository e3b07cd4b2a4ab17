import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from clinic.notifications.models import Reminder
from patients.tests.factories import PatientFactory


class ReminderFactory(factory.django.DjangoModelFactory):
    """A stored reminder (bypassing the service): due now unless told otherwise."""

    class Meta:
        model = Reminder

    patient = factory.SubFactory(PatientFactory)
    facility = factory.LazyAttribute(
        lambda reminder: reminder.patient.facility if reminder.patient else reminder.staff.facilities.first()
    )
    kind = Reminder.Kind.APPOINTMENT
    channel = Reminder.Channel.SMS
    send_at = factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=1))
    deliver_after = factory.LazyAttribute(lambda reminder: reminder.send_at)
    idempotency_key = factory.LazyFunction(lambda: uuid.uuid4().hex)
    context = factory.LazyAttribute(
        lambda reminder: (
            {"at": (reminder.send_at + timedelta(days=1)).isoformat(), "provider": "R. Lee"}
            if reminder.kind == Reminder.Kind.APPOINTMENT
            else {}
        )
    )


# For the route-walking scope test (clinic/tests/api/test_scope_walk.py).
SCOPED_OBJECT_MAKERS = {Reminder: lambda patient: ReminderFactory(patient=patient, facility=patient.facility)}
