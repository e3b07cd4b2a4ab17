from django.conf import settings
from django.db import models
from django.utils import timezone

from clinic.scoping import Scope


class AuditEvent(models.Model):
    """One read or write of patient data. Append-only: the database refuses UPDATE and DELETE.

    Events are inserted without any lock; `AuditSeal` rows chain them afterwards (see clinic.audit.chain).
    """

    SCOPE = Scope(facility="facility_id", patient=None)

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # No index of their own for actor and facility_id: the (actor, -id) and (facility_id, -id) indexes below
    # serve every lookup by them, and each index is one more write on every read of patient data.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    actor_username = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=40)
    model = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.UUIDField(null=True, blank=True, db_index=True)
    facility_id = models.UUIDField(null=True, blank=True)
    source = models.CharField(max_length=16, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["facility_id", "-id"]), models.Index(fields=["actor", "-id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.actor_username or 'system'} {self.action} {self.model} {self.object_id}"


class AuditSeal(models.Model):
    """A link of the tamper-evident chain: the hash of one event together with the previous link's hash."""

    position = models.BigAutoField(primary_key=True)
    event_id = models.BigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"seal {self.position} of event {self.event_id}"
