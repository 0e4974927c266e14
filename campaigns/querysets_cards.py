"""Reads of cards and print batches.

The print room's queue is ``Card.objects.printable(due_by)``: approved cards, in no batch, whose
touchpoint is still pending and due by the date, for customers who may still be contacted.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import models

from nurture.querysets import sees_all_customers, user_has_perm

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

# Status values, spelled out here because the models import this module.
OPEN_STATUSES = ("draft", "approved")
IN_BATCH_STATUSES = ("batched", "printed", "mailed")
RENDERING_STATUSES = ("queued", "rendering")


class CardQuerySet(models.QuerySet[Any]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> CardQuerySet:
        """Like touchpoints: an account manager sees the cards of their own customers; the print room
        (campaigns.print_cards) sees every card, without seeing the customers themselves."""
        if not user.is_authenticated:
            return self.none()
        if sees_all_customers(user) or user_has_perm(user, "campaigns.print_cards"):
            return self
        return self.filter(touchpoint__customer__account_manager_id=user.pk)

    def in_scope(
        self,
        *,
        first_customer_id: int | None = None,
        last_customer_id: int | None = None,
        customer_ids: Any = None,
    ) -> CardQuerySet:
        """The cards of a planner chunk (a range of customer ids) or of some customers."""
        qs = self
        if customer_ids is not None:
            qs = qs.filter(touchpoint__customer_id__in=list(customer_ids))
        if first_customer_id is not None:
            qs = qs.filter(touchpoint__customer_id__gte=first_customer_id)
        if last_customer_id is not None:
            qs = qs.filter(touchpoint__customer_id__lte=last_customer_id)
        return qs

    def open(self) -> CardQuerySet:
        """Cards whose message may still change: draft or approved."""
        return self.filter(status__in=OPEN_STATUSES)

    def drafts(self) -> CardQuerySet:
        return self.filter(status="draft")

    def unchecked(self) -> CardQuerySet:
        """Open cards whose message has not been checked against the inside panel yet."""
        return self.open().filter(fits__isnull=True)

    def printable(self, due_by: dt.date | None = None) -> CardQuerySet:
        """Approved cards that may go into a batch (fit aside): the print room's queue."""
        qs = self.filter(
            status="approved",
            batch__isnull=True,
            touchpoint__status="pending",
            touchpoint__customer__status="active",
        )
        if due_by is not None:
            qs = qs.filter(touchpoint__due_on__lte=due_by)
        return qs

    def batchable(self, due_by: dt.date | None = None) -> CardQuerySet:
        """Printable cards whose message is known to fit."""
        return self.printable(due_by).filter(fits=True)

    def unfit(self) -> CardQuerySet:
        return self.filter(fits=False)

    def in_print_order(self) -> CardQuerySet:
        """The order of sequence numbers in a batch: mail-by date, surname, then id."""
        return self.order_by("touchpoint__due_on", "touchpoint__customer__last_name", "id")

    def for_print(self) -> CardQuerySet:
        return self.select_related("design").order_by("sequence")

    def withdrawn(self) -> CardQuerySet:
        """Cards in a batch, not mailed, that must not be mailed any more.

        The customer became do-not-contact (or churned, or paused), or the touchpoint was cancelled
        or skipped, after the card entered its batch. The print room takes them out of the pile;
        marking the batch mailed leaves them as they are.
        """
        return self.filter(status__in=("batched", "printed")).filter(
            ~models.Q(touchpoint__status="pending") | ~models.Q(touchpoint__customer__status="active")
        )


class BatchQuerySet(models.QuerySet[Any]):
    def rendering(self) -> BatchQuerySet:
        """Queued or rendering: chunks still to render or the files still to join."""
        return self.filter(status__in=RENDERING_STATUSES)

    def downloadable(self) -> BatchQuerySet:
        return self.filter(status__in=("ready", "printed", "mailed"))
