import datetime

import factory
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.tests.factories import UserFactory
from treatment.tests.factories import EpisodeFactory

from ..models import CheckIn, ProviderCheckIn, Relapse, RelapsePreventionPlan, RelapseTrigger


class RelapsePreventionPlanFactory(factory.django.DjangoModelFactory):
    """A plan row (services write real ones; use this only where a plan must merely exist)."""

    class Meta:
        model = RelapsePreventionPlan

    episode = factory.SubFactory(EpisodeFactory)
    craving_action_plan = factory.LazyFunction(lambda: ["Call a support person.", "Wait 15 minutes."])
    reasons_for_recovery = factory.LazyFunction(lambda: ["My family."])
    created_by = factory.SubFactory(UserFactory, role=Role.COUNSELOR)
    updated_by = factory.SelfAttribute("created_by")


class RelapseTriggerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RelapseTrigger

    plan = factory.SubFactory(RelapsePreventionPlanFactory)
    category = "stress"
    description = "Deadlines."
    author = factory.SubFactory(UserFactory, role=Role.COUNSELOR)


class ProviderCheckInFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderCheckIn

    episode = factory.SubFactory(EpisodeFactory)
    provider = factory.SubFactory(UserFactory, role=Role.CASE_MANAGER)
    offset_days = 7
    due_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=7))
    missed_after = factory.LazyAttribute(lambda check_in: check_in.due_at + datetime.timedelta(days=3))


class CheckInFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CheckIn

    episode = factory.SubFactory(EpisodeFactory)
    patient = factory.SelfAttribute("episode.patient")
    craving = 3
    mood = 6
    used = False
    checked_in_at = factory.LazyFunction(timezone.now)
    local_date = factory.LazyAttribute(lambda check_in: check_in.checked_in_at.date())


class RelapseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Relapse

    episode = factory.SubFactory(EpisodeFactory)
    occurred_on = factory.LazyFunction(timezone.localdate)
    substance = "kratom"
    recorded_by = factory.SubFactory(UserFactory, role=Role.COUNSELOR)


# How the route-walking scope test makes one record of each aftercare model for a given patient.
SCOPED_OBJECT_MAKERS = {
    RelapsePreventionPlan: lambda patient: RelapsePreventionPlanFactory(episode__patient=patient),
    ProviderCheckIn: lambda patient: ProviderCheckInFactory(episode__patient=patient),
    CheckIn: lambda patient: CheckInFactory(episode__patient=patient),
    Relapse: lambda patient: RelapseFactory(episode__patient=patient),
}
