import factory

from clinic.accounts.models import Facility, User
from clinic.accounts.roles import Role


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Facility {n}")


class UserFactory(factory.django.DjangoModelFactory):
    """A login. Pass `facility=` to place a staff member (or a patient account) in a facility."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.NURSE
    is_staff = factory.LazyAttribute(lambda user: user.role != Role.PATIENT)
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def facility(self, create, extracted, **kwargs):
        if create and extracted is not None:
            self.facilities.add(extracted)
        if create:
            self.save()
