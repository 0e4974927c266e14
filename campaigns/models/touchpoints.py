"""Touchpoints: one materialised (customer, rule, milestone, occurrence), and their reads."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Self

from django.conf import settings
from django.db import models
from django.utils import timezone

from campaigns.models.rules import Rule
from campaigns.statuses import TouchpointStatus
from nurture.lib.localdates import zones_by_local_date
from nurture.querysets import CustomerScopedQuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def _local_date_q(now: dt.datetime, lookup: str) -> models.Q:
    """due_on compared with each customer's local date at `now` (docs/calendar-rules.md, rule 4)."""
    groups = zones_by_local_date(now)
    q = models.Q()
    for day, zones in groups.items():
        q |= models.Q(customer__time_zone__in=zones, **{f"due_on__{lookup}": day})
    # The same condition on due_on alone, ANDed: it changes no result, and lets the
    # (assignee, status, due_on) index bound the scan instead of reading every pending touchpoint.
    first, last = min(groups), max(groups)
    bounds = {
        "exact": models.Q(due_on__range=(first, last)),
        "lt": models.Q(due_on__lt=last),
        "lte": models.Q(due_on__lte=last),
        "gt": models.Q(due_on__gt=first),
    }
    return bounds[lookup] & q


class TouchpointQuerySet(CustomerScopedQuerySet["Touchpoint"]):
    def assigned_to(self, user: AbstractBaseUser) -> Self:
        return self.filter(assignee_id=user.pk)

    def pending(self) -> Self:
        return self.filter(status=TouchpointStatus.PENDING)

    def calls(self) -> Self:
        return self.filter(kind="call")

    def due_today(self, now: dt.datetime | None = None) -> Self:
        """Pending touchpoints whose due date is today where the customer is."""
        return self.pending().filter(_local_date_q(now or timezone.now(), "exact"))

    def overdue(self, now: dt.datetime | None = None) -> Self:
        return self.pending().filter(_local_date_q(now or timezone.now(), "lt"))

    def due_by_today(self, now: dt.datetime | None = None) -> Self:
        """Due today or overdue."""
        return self.pending().filter(_local_date_q(now or timezone.now(), "lte"))

    def upcoming(self, now: dt.datetime | None = None) -> Self:
        return self.pending().filter(_local_date_q(now or timezone.now(), "gt"))

    def for_export(self) -> Self:
        return self.select_related("customer", "rule", "assignee").order_by("due_on", "id")


class Touchpoint(models.Model):
    class Kind(models.TextChoices):
        CALL = "call", "Call"
        CARD = "card", "Card"

    Status = TouchpointStatus

    class Outcome(models.TextChoices):
        REACHED = "reached", "Reached"
        VOICEMAIL = "voicemail", "Left a voicemail"
        NO_ANSWER = "no_answer", "No answer"
        AT_RISK = "at_risk", "Reached: at risk"

    customer = models.ForeignKey("nurture.Customer", on_delete=models.CASCADE, related_name="touchpoints")
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="touchpoints")
    # SET_NULL: deleting a milestone keeps the history; the planner cancels what was pending.
    milestone = models.ForeignKey(
        "nurture.Milestone", on_delete=models.SET_NULL, null=True, blank=True, related_name="touchpoints"
    )
    milestone_date = models.DateField(help_text="The milestone's date when this was planned.")
    occurrence_index = models.PositiveIntegerField(default=0, help_text="0 for the first occurrence of the rule.")
    season = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="For a rule of a date-anchored (seasonal) cadence: the year of its date; empty otherwise.",
    )
    occurs_on = models.DateField("occurs on", help_text="The date the rule targets.")
    due_on = models.DateField(
        "due on", help_text="The date it must be done: for calls the business day, for cards the mail-by date."
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # No index of its own on these three: the planner inserts ~200,000 rows a sweep, and an index
    # with a handful of values (or only NULLs) is one hot page that concurrent chunks fight over
    # (docs/benchmarks-workers.md). touchpoint_queue starts with assignee; the unique
    # touchpoint_one_follow_up_per_attempt starts with follow_up_of; completed_by has a partial one.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="touchpoints",
        db_index=False,
    )
    late = models.BooleanField(
        default=False, help_text="Planned after its due date had begun (the planner was behind)."
    )
    rule_version = models.PositiveIntegerField(default=1)
    follow_up_of = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="follow_ups",
        help_text="The call whose outcome asked for this one (a retry, or a follow-up of a customer at risk).",
        db_index=False,
    )
    attempt = models.PositiveSmallIntegerField(default=0, help_text="1 for the first follow-up of a call, and so on.")
    hold_reason = models.CharField(max_length=200, blank=True)
    alert_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the lead was alerted about this 'at risk' call (sent once)."
    )
    cancel_reason = models.CharField(max_length=200, blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    notes = models.TextField(blank=True)
    snoozed_from = models.DateField(null=True, blank=True, help_text="The due date before it was snoozed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )

    objects = TouchpointQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            # One live touchpoint per occurrence, whatever runs twice, overlaps or crashes.
            # Cancelled rows are history: an occurrence whose basis comes back is planned anew.
            models.UniqueConstraint(
                fields=["rule", "milestone", "occurs_on"],
                condition=~models.Q(status="cancelled") & models.Q(follow_up_of__isnull=True),
                name="touchpoint_one_live_per_occurrence",
            ),
            # The same for a date-anchored (seasonal) rule, which has no milestone: one live touchpoint
            # per customer, rule and year of the date, whatever runs twice, overlaps or crashes (and
            # however the date moves within the year, e.g. a customer's country keeps another holiday).
            models.UniqueConstraint(
                fields=["customer", "rule", "season"],
                condition=~models.Q(status="cancelled")
                & models.Q(follow_up_of__isnull=True)
                & models.Q(season__isnull=False),
                name="touchpoint_one_live_per_season",
            ),
            # A touchpoint counts from a milestone or from a date, never from both.
            models.CheckConstraint(
                condition=models.Q(season__isnull=True) | models.Q(milestone__isnull=True),
                name="touchpoint_milestone_or_season",
            ),
            # A follow-up is created once per attempt, however often the outcome is submitted.
            models.UniqueConstraint(
                fields=["follow_up_of", "attempt"],
                condition=models.Q(follow_up_of__isnull=False),
                name="touchpoint_one_follow_up_per_attempt",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="held") | ~models.Q(hold_reason=""),
                name="touchpoint_hold_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "done", "skipped", "cancelled", "held"]),
                name="touchpoint_status_valid",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=["call", "card"]), name="touchpoint_kind_valid"),
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | ~models.Q(cancel_reason=""),
                name="touchpoint_cancel_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="skipped") | ~models.Q(skip_reason=""),
                name="touchpoint_skip_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="done", kind="call") | ~models.Q(outcome=""),
                name="touchpoint_done_call_has_outcome",
            ),
        ]
        indexes = [
            # The account manager's queue: TouchpointQuerySet.assigned_to().due_as_of().
            models.Index(fields=["assignee", "status", "due_on"], name="touchpoint_queue"),
            # The reconciler walks the pending touchpoints of a range of customers: planning.reconcile().
            models.Index(
                fields=["customer", "due_on"], condition=models.Q(status="pending"), name="touchpoint_pending_customer"
            ),
            # export_touchpoints and the admin's date filters.
            models.Index(fields=["due_on"], name="touchpoint_due_on"),
            # Deleting a user sets completed_by to NULL: only the rows that have one.
            models.Index(
                fields=["completed_by"], condition=models.Q(completed_by__isnull=False), name="touchpoint_completed_by"
            ),
            # The journey map's stage report (selectors.stages): done touchpoints of a cadence's rules
            # in a period, and each customer's done touchpoints in order (also the coverage report:
            # a customer's latest completed touch, and "none since" for its list). Partial, so the planner's
            # inserts of pending rows never touch them.
            models.Index(
                fields=["rule", "completed_at"], condition=models.Q(status="done"), name="touchpoint_done_rule"
            ),
            # A customer's done touchpoints by completion, carrying what the health score's facts read
            # (campaigns.selectors.health): a chunk's touches come from the index alone, in customer
            # order, without visiting the table (docs/benchmarks-health.md).
            models.Index(
                fields=["customer", "completed_at"],
                include=["id", "kind", "outcome"],
                condition=models.Q(status="done"),
                name="touchpoint_done_customer",
            ),
            # Every planner chunk looks for held cards to release (services.holds.release_deliverable_addresses):
            # the few held touchpoints of a range of customers, without reading the others.
            models.Index(fields=["customer"], condition=models.Q(status="held"), name="touchpoint_held_customer"),
            # The lead's alerts still unsent after an "at risk" call, by when it was logged: their
            # recovery (services.alerts.alerts_send_overdue, every five minutes). A handful of rows.
            models.Index(
                fields=["completed_at"],
                condition=models.Q(outcome="at_risk", alert_sent_at__isnull=True),
                name="touchpoint_alert_unsent",
            ),
            # The reports' daily figures: the touchpoints completed on one day (selectors/reports/).
            models.Index(
                fields=["completed_at"], condition=models.Q(completed_at__isnull=False), name="touchpoint_completed_at"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.customer} on {self.due_on.isoformat()}"
