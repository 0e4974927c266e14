"""What the API remembers between requests: the idempotency keys of the events in."""

from __future__ import annotations

import datetime as dt
from typing import Self

from django.db import models

from nurture.models import ApiToken


class IdempotencyKeyQuerySet(models.QuerySet["IdempotencyKey"]):
    def older_than(self, moment: dt.datetime) -> Self:
        return self.filter(created_at__lt=moment)


class IdempotencyKey(models.Model):
    """A request made with an Idempotency-Key header and the response it got.

    The same key with the same body gets the stored response again; with another body, a 422.
    Kept NURTURE_IDEMPOTENCY_KEEP_DAYS (7) days; the nightly pruning (services.pruning) deletes older ones.
    """

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(db_index=True)

    objects = IdempotencyKeyQuerySet.as_manager()

    class Meta:
        constraints = [
            # Two requests with one key, even at the same moment, are applied once: the second
            # insert fails and that request is answered with the first one's response.
            models.UniqueConstraint(fields=["token", "key"], name="idempotencykey_unique_per_token"),
        ]

    def __str__(self) -> str:
        return self.key
