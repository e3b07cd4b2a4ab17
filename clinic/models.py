"""Abstract base models every domain model builds on."""

import uuid

from django.db import models


class TimestampedModel(models.Model):
    """A record with a non-guessable public id and the timestamps that offline sync and auditing rely on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True
