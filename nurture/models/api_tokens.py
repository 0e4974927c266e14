"""API tokens: one per integration (a CRM, a mail tool, a help desk), with scopes and an owner.

A token acts as its owner: the owner's customer scoping (CustomerScopedQuerySet.visible_to)
applies to every read and write made with it. Only a SHA-256 hash of the secret is stored (the
secret has 256 bits of entropy, so a fast hash is enough: there is nothing to guess); the first
characters stay visible so that people can tell their tokens apart in the admin.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Self

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "nur_"  # noqa: S105  # the public prefix, not a secret
# How many characters of the token the admin shows ("nur_" and 8 more).
VISIBLE_PREFIX_LENGTH = 12


class Scope(models.TextChoices):
    EVENTS_WRITE = "events:write", "Send events"
    CUSTOMERS_READ = "customers:read", "Read customers and milestones"
    CUSTOMERS_WRITE = "customers:write", "Create and update customers and milestones"
    TOUCHPOINTS_READ = "touchpoints:read", "Read touchpoints and activities"
    TOUCHPOINTS_WRITE = "touchpoints:write", "Log outcomes and record activities"
    WEBHOOKS_MANAGE = "webhooks:manage", "Manage webhook endpoints"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def live(self, now: dt.datetime) -> Self:
        """Neither revoked nor expired at `now`."""
        return self.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)

    def expiring_unwarned(self, *, now: dt.datetime, within: dt.timedelta) -> Self:
        """Live tokens that expire within `within` and whose owner was not told yet."""
        return self.live(now).filter(expires_at__lte=now + within, expiry_warned_at__isnull=True)


class ApiToken(models.Model):
    name = models.CharField(max_length=100, help_text="What the integration is, e.g. 'HubSpot' or 'Help desk'.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="The token acts as this user: it sees and changes only the customers the owner sees.",
    )
    scopes = models.JSONField(default=list, help_text="What the token may do, e.g. ['events:write'].")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=VISIBLE_PREFIX_LENGTH, editable=False, help_text="The token's first characters, to recognise it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(
        "last used", null=True, blank=True, editable=False, help_text="Updated at most once a minute."
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: never expires. The owner gets an e-mail 14 days before."
    )
    expiry_warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["name", "id"]
        constraints = [
            # A token's name tells its owner which integration it is: one name per owner.
            models.UniqueConstraint(fields=["owner", "name"], name="apitoken_unique_name_per_owner"),
        ]
        indexes = [
            # The daily expiry warning: ApiTokenQuerySet.expiring_unwarned().
            models.Index(
                fields=["expires_at"],
                condition=models.Q(expiry_warned_at__isnull=True, expires_at__isnull=False),
                name="apitoken_expiry_unwarned",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def is_live(self, now: dt.datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
