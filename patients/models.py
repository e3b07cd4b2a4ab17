import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from clinic.accounts.models import Facility
from clinic.models import TimestampedModel
from clinic.scoping import Scope


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a valid IANA time zone name.")


def validate_not_future(value) -> None:
    if value > timezone.localdate():
        raise ValidationError("Date of birth cannot be in the future.")


class Patient(TimestampedModel):
    SCOPE = Scope(facility="facility", patient="")

    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        INTERSEX = "intersex", "Intersex"
        UNKNOWN = "unknown", "Unknown"

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "Email"
        PUSH = "push", "Push"
        NONE = "none", "None"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        DECEASED = "deceased", "Deceased"

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=32, editable=False)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(validators=[validate_not_future])
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(max_length=20, blank=True)
    email = models.EmailField(blank=True)
    timezone = models.CharField(max_length=64, default="America/New_York", validators=[validate_timezone])
    preferred_channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.NONE)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="patient_record"
    )

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [models.UniqueConstraint(fields=["facility", "mrn"], name="patient_mrn_unique_per_facility")]
        indexes = [
            models.Index(fields=["facility", "last_name", "date_of_birth"]),
            models.Index(fields=["facility", "phone"]),
        ]

    def __str__(self) -> str:
        return f"{self.mrn}"


class MrnSequence(models.Model):
    """The next MRN number per facility; rows are locked while a number is taken, so MRNs never repeat."""

    facility = models.OneToOneField(Facility, on_delete=models.CASCADE, primary_key=True)
    next_number = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.facility_id}: {self.next_number}"
