"""Stored therapy records (bypassing the services), for the route-walking scope test and list sizes.
Tests of rules go through the services (see conftest.py)."""

from datetime import timedelta

import factory
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.tests.factories import FacilityFactory, UserFactory
from patients.tests.factories import PatientFactory
from treatment.tests.factories import EpisodeFactory
from treatment.therapy.models import (
    Appointment,
    AttendanceStatus,
    GroupAttendance,
    GroupSession,
    Modality,
    NoteFormat,
    ProgressNote,
    PsychotherapyNote,
    TherapySession,
    TreatmentPlan,
)


def _tomorrow():
    return timezone.now() + timedelta(days=1)


class TreatmentPlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TreatmentPlan

    episode = factory.SubFactory(EpisodeFactory)
    next_review_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    created_by = factory.SubFactory(UserFactory, role=Role.COUNSELOR)


class TherapySessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TherapySession

    episode = factory.SubFactory(EpisodeFactory)
    patient = factory.LazyAttribute(lambda session: session.episode.patient)
    modality = Modality.CBT
    counselor = factory.SubFactory(UserFactory, role=Role.COUNSELOR)
    starts_at = factory.LazyFunction(_tomorrow)
    ends_at = factory.LazyAttribute(lambda session: session.starts_at + timedelta(minutes=50))
    location = "Room 2"
    scheduled_by = factory.SelfAttribute("counselor")


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    kind = Appointment.Kind.OTHER
    starts_at = factory.LazyFunction(_tomorrow)
    ends_at = factory.LazyAttribute(lambda appointment: appointment.starts_at + timedelta(minutes=30))
    location = "Front office"


class GroupSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GroupSession

    facility = factory.SubFactory(FacilityFactory)
    title = "Relapse prevention group"
    modality = Modality.RELAPSE_PREVENTION
    facilitator = factory.SubFactory(UserFactory, role=Role.COUNSELOR)
    starts_at = factory.LazyFunction(_tomorrow)
    ends_at = factory.LazyAttribute(lambda group: group.starts_at + timedelta(minutes=90))
    location = "Group room"
    capacity = 8
    scheduled_by = factory.SelfAttribute("facilitator")


class GroupAttendanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GroupAttendance

    episode = factory.SubFactory(EpisodeFactory)
    patient = factory.LazyAttribute(lambda entry: entry.episode.patient)
    group_session = factory.SubFactory(
        GroupSessionFactory, facility=factory.LazyAttribute(lambda group: group.factory_parent.patient.facility)
    )
    added_by = factory.SelfAttribute("group_session.facilitator")


class ProgressNoteFactory(factory.django.DjangoModelFactory):
    """A draft DAP note of an attended session."""

    class Meta:
        model = ProgressNote

    session = factory.SubFactory(TherapySessionFactory, status=AttendanceStatus.ATTENDED)
    patient = factory.LazyAttribute(lambda note: note.session.patient)
    episode = factory.LazyAttribute(lambda note: note.session.episode)
    format = NoteFormat.DAP
    data = "Reported two cravings this week, both managed with urge surfing."
    assessment = "Engaged; coping skills improving."
    plan = "Continue weekly CBT; practise thought records."
    author = factory.SelfAttribute("session.counselor")


class PsychotherapyNoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PsychotherapyNote

    episode = factory.SubFactory(EpisodeFactory)
    patient = factory.LazyAttribute(lambda note: note.episode.patient)
    content = "Process notes: transference themes around the father."
    author = factory.SubFactory(UserFactory, role=Role.COUNSELOR)


def _group_with(patient) -> GroupSession:
    return GroupAttendanceFactory(episode__patient=patient).group_session


# How the route-walking scope test (clinic/tests/api/test_scope_walk.py) makes one record of each model.
SCOPED_OBJECT_MAKERS = {
    TreatmentPlan: lambda patient: TreatmentPlanFactory(episode__patient=patient),
    TherapySession: lambda patient: TherapySessionFactory(episode__patient=patient),
    GroupSession: _group_with,
    Appointment: lambda patient: AppointmentFactory(patient=patient),
    ProgressNote: lambda patient: ProgressNoteFactory(session__episode__patient=patient),
    PsychotherapyNote: lambda patient: PsychotherapyNoteFactory(episode__patient=patient),
}
