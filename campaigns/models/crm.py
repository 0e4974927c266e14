"""What the CRM adapters remember: each CRM event applied, so a redelivery changes nothing."""

from __future__ import annotations

from django.db import models


class CrmEventReceived(models.Model):
    """One event a CRM sent (HubSpot's eventId, Pipedrive's entity, id, action and timestamp),
    written in the same transaction as what the event did."""

    source = models.CharField(max_length=20, help_text="The CRM: hubspot or pipedrive.")
    event_key = models.CharField(max_length=200, help_text="The event's stable key in its CRM.")
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            # A CRM event is applied once: a redelivery finds its row and is skipped; two
            # deliveries at the same moment cannot both insert it (the second rolls back).
            models.UniqueConstraint(fields=["source", "event_key"], name="crmeventreceived_unique_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.event_key}"
