"""Reads of touchpoints, cards and print batches, as QuerySet methods typed to their model.

The print room's queue is ``Card.objects.printable(due_by)``: approved cards, in no batch, whose
touchpoint is still pending and due by the date, for customers who may still be contacted.
Status values come from campaigns.statuses (the models import this module, not the reverse).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Self

from django.db import models
from django.utils import timezone

from campaigns.statuses import (
    BATCH_DOWNLOADABLE,
    BATCH_RENDERING,
    CARD_IN_UNMAILED_BATCH,
    CARD_OPEN,
    CardStatus,
    TouchpointStatus,
)
from nurture.lib.customer_scope import CustomerScope
from nurture.lib.localdates import zones_by_local_date
from nurture.models import Customer
from nurture.querysets import CustomerScopedQuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from campaigns.models import Batch, Card, PlannerRun, Touchpoint  # noqa: F401 (the QuerySets' type arguments)


def _local_date_q(now: dt.datetime, lookup: str) -> models.Q:
    """due_on compared with each customer's local date at `now` (PRODUCT.md rule 4)."""
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


class CardQuerySet(CustomerScopedQuerySet["Card"]):
    # Like touchpoints: an account manager sees the cards of their own customers; the print room
    # (campaigns.print_cards) sees every card, without seeing the customers themselves.
    account_manager_lookup = "touchpoint__customer__account_manager_id"
    sees_all_permissions = ("campaigns.print_cards",)

    def in_scope(self, scope: CustomerScope) -> Self:
        """The cards of a planner chunk (a range of customer ids) or of some customers."""
        return self.filter(scope.q("touchpoint__customer_id"))

    def open(self) -> Self:
        """Cards whose message may still change: draft or approved."""
        return self.filter(status__in=CARD_OPEN)

    def drafts(self) -> Self:
        return self.filter(status=CardStatus.DRAFT)

    def unchecked(self) -> Self:
        """Open cards whose message has not been checked against the inside panel yet."""
        return self.open().filter(fits__isnull=True)

    def printable(self, due_by: dt.date | None = None) -> Self:
        """Approved cards that may go into a batch (fit aside): the print room's queue."""
        qs = self.filter(
            status=CardStatus.APPROVED,
            batch__isnull=True,
            touchpoint__status=TouchpointStatus.PENDING,
            touchpoint__customer__status=Customer.Status.ACTIVE,
        )
        if due_by is not None:
            qs = qs.filter(touchpoint__due_on__lte=due_by)
        return qs

    def batchable(self, due_by: dt.date | None = None) -> Self:
        """Printable cards whose message is known to fit."""
        return self.printable(due_by).filter(fits=True)

    def unfit(self) -> Self:
        return self.filter(fits=False)

    def in_print_order(self) -> Self:
        """The order of sequence numbers in a batch: mail-by date, surname, then id."""
        return self.order_by("touchpoint__due_on", "touchpoint__customer__last_name", "id")

    def for_print(self) -> Self:
        return self.select_related("design").order_by("sequence")

    def withdrawn(self) -> Self:
        """Cards in a batch, not mailed, that must not be mailed any more.

        The customer became do-not-contact (or churned, or paused), or the touchpoint was cancelled
        or skipped, after the card entered its batch. The print room takes them out of the pile;
        marking the batch mailed leaves them as they are.
        """
        return self.filter(status__in=CARD_IN_UNMAILED_BATCH).filter(
            ~models.Q(touchpoint__status=TouchpointStatus.PENDING)
            | ~models.Q(touchpoint__customer__status=Customer.Status.ACTIVE)
        )


class BatchQuerySet(models.QuerySet["Batch"]):
    def rendering(self) -> Self:
        """Queued or rendering: chunks still to render or the files still to join."""
        return self.filter(status__in=BATCH_RENDERING)

    def downloadable(self) -> Self:
        return self.filter(status__in=BATCH_DOWNLOADABLE)


class PlannerRunQuerySet(models.QuerySet["PlannerRun"]):
    def completed_sweeps(self) -> Self:
        """Sweeps that finished: the planner works on from the last one (PRODUCT.md rule 5)."""
        return self.filter(scope="sweep", finished_at__isnull=False)
