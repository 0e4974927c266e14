"""Activities: touches made in other channels (an e-mail sent, a meeting, a support ticket, a
purchase, an NPS response), recorded through the API or by the events in.

An activity is a contact: it moves the customer's last_contact milestone (services/reactions.py)
and counts against the frequency cap (services/holds.py). It appears on the customer's journey
(selectors/journey.py) and feeds the health measures.
"""

from __future__ import annotations

import datetime as dt
from typing import Self

from django.db import models

from nurture.models import Customer
from nurture.querysets import CustomerScopedQuerySet

# An NPS answer of 9 or 10 is a promoter's (the advocate flag, the "Ask for a referral" cadence).
PROMOTER_MIN_SCORE = 9
# The milestone kind a promoter's answer records (nurture 0020 creates it).
PROMOTER_SCORE_KIND = "promoter_score"


class ActivityQuerySet(CustomerScopedQuerySet["Activity"]):
    def since(self, moment: dt.datetime) -> Self:
        return self.filter(occurred_at__gte=moment)

    def nps(self) -> Self:
        return self.filter(channel=Activity.Channel.NPS, score__isnull=False)


class Activity(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        MEETING = "meeting", "Meeting"
        SUPPORT_TICKET = "support_ticket", "Support ticket"
        PURCHASE = "purchase", "Purchase"
        NPS = "nps", "NPS response"
        OTHER = "other", "Other"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="activities")
    channel = models.CharField(max_length=20, choices=Channel.choices, help_text="Where the touch happened.")
    occurred_at = models.DateTimeField(help_text="When it happened.")
    subject = models.CharField(max_length=200, blank=True, help_text="e.g. the e-mail's subject or the ticket's title.")
    score = models.SmallIntegerField(
        null=True, blank=True, help_text="Optional: an NPS answer (0-10) or a rating out of 100."
    )
    source = models.CharField(
        max_length=50, blank=True, help_text="The system it came from, e.g. the API token's name or 'hubspot'."
    )
    external_id = models.CharField(
        "external ID", max_length=100, blank=True, help_text="Its ID in that system; sent twice, it is recorded once."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # An integration that sends the same activity twice (a retry) records it once.
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~models.Q(external_id=""),
                name="activity_unique_external_id_per_source",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=["email", "meeting", "support_ticket", "purchase", "nps", "other"]),
                name="activity_channel_valid",
            ),
            # NPS answers are 0-10; any other score is a rating out of 100.
            models.CheckConstraint(
                condition=models.Q(score__isnull=True)
                | models.Q(channel="nps", score__gte=0, score__lte=10)
                | (~models.Q(channel="nps") & models.Q(score__gte=0, score__lte=100)),
                name="activity_score_in_range",
            ),
        ]
        indexes = [
            # A customer's journey and the frequency cap: a customer's activities by time.
            models.Index(fields=["customer", "occurred_at"], name="activity_customer_time"),
            # The advocate flag: each customer's latest NPS answer (campaigns.selectors.advocates).
            models.Index(
                fields=["customer", "occurred_at"], condition=models.Q(channel="nps"), name="activity_nps_customer_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.subject or '(no subject)'}"
