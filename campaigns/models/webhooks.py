"""Webhooks out: endpoints, the transactional outbox of events, and one delivery per event and endpoint.

An event is written by the service that caused it, in the same transaction (a plain INSERT);
the dispatcher (campaigns.services.webhooks) fans each event out to the endpoints subscribed to
its type and delivers them with retries. Nothing here talks to the network.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Self

from django.conf import settings
from django.db import models
from django.utils import timezone


class WebhookEventType(models.TextChoices):
    TOUCHPOINT_DUE = "touchpoint.due", "A touchpoint is due (its due date has begun for the customer)"
    TOUCHPOINT_COMPLETED = "touchpoint.completed", "A touchpoint is done"
    OUTCOME_LOGGED = "outcome.logged", "A call's outcome was logged"
    CARD_PRINTED = "card.printed", "A card was printed"
    CARD_MAILED = "card.mailed", "A card was mailed"
    CUSTOMER_HEALTH_CHANGED = "customer.health_changed", "A customer's health band changed"
    REFERRAL_THANKED = "referral.thanked", "A referral was thanked"
    # Sent from the admin to one endpoint, never fanned out to the others.
    TEST = "webhook.test", "Test event (from the admin)"


# The types an endpoint may subscribe to (the test event goes to the endpoint it was sent from).
SUBSCRIBABLE_TYPES = [value for value in WebhookEventType.values if value != WebhookEventType.TEST]


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    # Every attempt of the retry schedule failed, or the endpoint answered 410 Gone.
    FAILED = "failed", "Failed"


class WebhookEndpointQuerySet(models.QuerySet["WebhookEndpoint"]):
    def enabled(self) -> Self:
        return self.filter(enabled=True)

    def visible_to(self, user: object) -> Self:
        """An endpoint's owner sees it; administrators see them all."""
        if getattr(user, "is_superuser", False):
            return self
        return self.filter(owner_id=getattr(user, "pk", None))


class WebhookEndpoint(models.Model):
    url = models.URLField(
        "URL",
        max_length=500,
        help_text="Where the events are POSTed. It must resolve to a public address (docs/webhooks.md).",
    )
    description = models.CharField(max_length=200, blank=True, help_text="What receives these events.")
    event_types = models.JSONField(
        "event types", default=list, help_text="The event types this endpoint receives (a list of type names)."
    )
    secret = models.CharField(
        max_length=100, editable=False, help_text="whsec_ followed by the base64 of the signing key."
    )
    previous_secret = models.CharField(
        max_length=100, blank=True, editable=False, help_text="The secret before the last rotation."
    )
    previous_secret_expires_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Until then, payloads are signed with both secrets."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="webhook_endpoints",
        help_text="Who manages this endpoint and is e-mailed when it is disabled.",
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True, help_text="Why it was disabled.")
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success (empty while healthy)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WebhookEndpointQuerySet.as_manager()

    class Meta:
        verbose_name = "webhook endpoint"
        constraints = [
            # Every endpoint signs with a Standard Webhooks secret: whsec_ and a base64 key.
            models.CheckConstraint(
                condition=models.Q(secret__startswith="whsec_"),  # noqa: S106 (a prefix, not a password)
                name="webhook_secret_whsec",
            ),
            # A previous secret is kept only with the time it stops signing, and never without one.
            models.CheckConstraint(
                condition=(
                    models.Q(previous_secret="", previous_secret_expires_at__isnull=True)
                    | (
                        models.Q(previous_secret__startswith="whsec_")  # noqa: S106 (a prefix)
                        & models.Q(previous_secret_expires_at__isnull=False)
                    )
                ),
                name="webhook_previous_secret_expires",
            ),
            # A disabled endpoint says why; an enabled one carries no stale reason.
            models.CheckConstraint(
                condition=models.Q(enabled=True, disabled_reason="")
                | (models.Q(enabled=False) & ~models.Q(disabled_reason="")),
                name="webhook_disabled_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.url

    def signing_secrets(self, now: dt.datetime | None = None) -> list[str]:
        """The secrets to sign with now: the current one, and the previous one until it expires."""
        now = now or timezone.now()
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets

    def wants(self, event_type: str) -> bool:
        return event_type in (self.event_types or [])


class WebhookEventQuerySet(models.QuerySet["WebhookEvent"]):
    def unfanned(self) -> Self:
        return self.filter(fanned_out_at__isnull=True)


class WebhookEvent(models.Model):
    """One event of the outbox, written in the transaction of the change that caused it."""

    Type = WebhookEventType

    message_id = models.CharField(
        max_length=40, unique=True, editable=False, help_text="The webhook-id header: the same on every retry."
    )
    type = models.CharField(max_length=40, choices=Type.choices)
    subject_id = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The row the event is about (a touchpoint, a card...): one event per type and subject.",
    )
    data = models.JSONField(default=dict, help_text="The payload's data object.")
    created_at = models.DateTimeField(default=timezone.now, help_text="The payload's timestamp.")
    fanned_out_at = models.DateTimeField(
        null=True, blank=True, help_text="When its deliveries to the subscribed endpoints were created."
    )
    # The test event's one endpoint; empty for domain events, which go to every subscriber.
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    objects = WebhookEventQuerySet.as_manager()

    class Meta:
        verbose_name = "webhook event"
        constraints = [
            # An event about a subject is recorded once, whatever job or request runs twice
            # (NULL subjects, the test events, are never equal to one another).
            models.UniqueConstraint(fields=["type", "subject_id"], name="webhook_event_once_per_subject"),
        ]
        indexes = [
            # The fan-out's query: events not yet fanned out (few at any time).
            models.Index(fields=["id"], name="webhook_event_unfanned", condition=models.Q(fanned_out_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"

    @staticmethod
    def new_message_id() -> str:
        return f"msg_{uuid.uuid4().hex}"

    def payload(self) -> dict[str, object]:
        """The body: {type, timestamp, data} (docs/webhooks.md)."""
        return {"type": self.type, "timestamp": self.created_at.isoformat(), "data": self.data}


class WebhookDeliveryQuerySet(models.QuerySet["WebhookDelivery"]):
    def visible_to(self, user: object) -> Self:
        if getattr(user, "is_superuser", False):
            return self
        return self.filter(endpoint__owner_id=getattr(user, "pk", None))

    def due(self, now: dt.datetime) -> Self:
        return self.filter(status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)


class WebhookDelivery(models.Model):
    """One event to one endpoint: its attempts so far and the next one."""

    Status = WebhookDeliveryStatus

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts made so far.")
    next_attempt_at = models.DateTimeField(
        default=timezone.now, help_text="When the next attempt is due (a claimed delivery: when its claim lapses)."
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField("last HTTP status", null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, help_text="Why the last attempt failed.")
    response_excerpt = models.TextField(blank=True, help_text="The start of the last response's body.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    claim = models.UUIDField(
        null=True, blank=True, editable=False, help_text="The dispatcher that holds it, until next_attempt_at."
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # An event goes to an endpoint once, however often the fan-out runs or overlaps.
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once_per_endpoint"),
            # A delivered one says when.
            models.CheckConstraint(
                condition=~models.Q(status=WebhookDeliveryStatus.DELIVERED) | models.Q(delivered_at__isnull=False),
                name="webhook_delivery_delivered_at",
            ),
        ]
        indexes = [
            # The dispatcher's query: pending deliveries by the time they are due.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(status=WebhookDeliveryStatus.PENDING),
            ),
            # The dispatcher reading back what it just claimed.
            models.Index(fields=["claim"], name="webhook_delivery_claim", condition=models.Q(claim__isnull=False)),
            # The delivery log of one endpoint, newest first.
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} to {self.endpoint.url}"
