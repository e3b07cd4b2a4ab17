from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from clinic.models import TimestampedModel

from .roles import Role


class Facility(TimestampedModel):
    name = models.CharField(max_length=200, unique=True)
    timezone = models.CharField(max_length=64, default="America/New_York")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "facilities"

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A login: a staff member working in one or more facilities, or a patient (linked from the Patient).

    A patient account's `facilities` is its patient's facility, so device and account administration
    scope the same way for staff and patients.
    """

    role = models.CharField(max_length=32, choices=Role.choices)
    facilities = models.ManyToManyField(Facility, related_name="staff", blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(role__in=Role.values), name="user_role_valid")]

    def facility_ids(self) -> list:
        """Ids of the facilities this user works in, cached on the instance for the request."""
        if not hasattr(self, "_facility_ids"):
            self._facility_ids = list(self.facilities.values_list("id", flat=True))
        return self._facility_ids

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT


class Device(TimestampedModel):
    """A signed-in device (one token login). Revoking it shuts the device out once its access token expires."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=200, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return self.name or f"device {self.pk}"
