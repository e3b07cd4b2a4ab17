from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an Idempotency-Key, replayed to retries for 24 hours."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class Tombstone(models.Model):
    """A record that was deleted or left a facility's scope, for the offline-sync deletions feed."""

    class Reason(models.TextChoices):
        DELETED = "deleted"
        LEFT_SCOPE = "left_scope"

    id = models.BigAutoField(primary_key=True)
    model = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    facility_id = models.UUIDField(db_index=True)
    patient_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["facility_id", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.reason} {self.model} {self.object_id}"
