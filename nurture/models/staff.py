"""What nurture keeps about its staff users: their profile and their private calendar feed."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A private iCalendar URL with a user's upcoming calls. Resetting the token revokes the old URL."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    token = models.CharField(max_length=64, unique=True, default=new_feed_token)
    created_at = models.DateTimeField(auto_now_add=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"calendar feed of {self.user}"


class StaffProfile(models.Model):
    """What nurture needs to know about a member of staff beyond the login."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="team_members",
        help_text="Alerted by e-mail when one of this person's customers is at risk.",
    )
    signature = models.CharField(
        max_length=200,
        blank=True,
        help_text="Signature line on cards, e.g. 'Warm regards, Alice Martin, Account Manager'.",
    )

    def __str__(self) -> str:
        return f"profile of {self.user}"
