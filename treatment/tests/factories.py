import factory

from clinic.accounts.roles import Role
from clinic.tests.factories import UserFactory
from patients.tests.factories import PatientFactory
from treatment.instruments import get_definition, score
from treatment.models import Alert, Assessment, Episode, Observation


class EpisodeFactory(factory.django.DjangoModelFactory):
    """An open episode in the assessment stage (use the services to move it: the stage machine is the rule)."""

    class Meta:
        model = Episode

    patient = factory.SubFactory(PatientFactory)
    opened_by = factory.SubFactory(UserFactory, role=Role.PHYSICIAN)


def _scored(observation, field: str):
    result = score(get_definition(observation.instrument), observation.responses)
    return getattr(result, field)


class ObservationFactory(factory.django.DjangoModelFactory):
    """A GAD-7 observation scored like the service scores it (pass `instrument` and `responses` to vary)."""

    class Meta:
        model = Observation

    episode = factory.SubFactory(EpisodeFactory)
    instrument = "gad7"
    responses = factory.LazyFunction(lambda: {f"q{n}": 1 for n in range(1, 8)})
    total = factory.LazyAttribute(lambda o: _scored(o, "total"))
    band = factory.LazyAttribute(lambda o: _scored(o, "band"))
    flags = factory.LazyAttribute(lambda o: list(_scored(o, "flags")))
    definition_version = factory.LazyAttribute(lambda o: _scored(o, "version"))
    recorded_by = factory.SubFactory(UserFactory, role=Role.NURSE)


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    patient = factory.SubFactory(PatientFactory)
    kind = "phq9_safety"
    severity = Alert.Severity.CRITICAL
    reason = "Patient Health Questionnaire-9: the safety item was answered above 0."
    target_role = Role.PHYSICIAN


class AssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assessment

    episode = factory.SubFactory(EpisodeFactory)
    created_by = factory.SubFactory(UserFactory, role=Role.PHYSICIAN)


# How the route-walking scope test makes one record of each treatment model for a given patient.
SCOPED_OBJECT_MAKERS = {
    Episode: lambda patient: EpisodeFactory(patient=patient),
    Observation: lambda patient: ObservationFactory(episode__patient=patient),
    Alert: lambda patient: AlertFactory(patient=patient),
    Assessment: lambda patient: AssessmentFactory(episode__patient=patient),
}
