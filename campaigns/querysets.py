"""Reads of touchpoints."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

from campaigns.localdates import zones_by_local_date
from nurture.querysets import sees_all_customers

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


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


class TouchpointQuerySet(models.QuerySet[Any]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> TouchpointQuerySet:
        if not user.is_authenticated:
            return self.none()
        if sees_all_customers(user):
            return self
        return self.filter(customer__account_manager_id=user.pk)

    def assigned_to(self, user: AbstractBaseUser) -> TouchpointQuerySet:
        return self.filter(assignee_id=user.pk)

    def pending(self) -> TouchpointQuerySet:
        return self.filter(status="pending")

    def calls(self) -> TouchpointQuerySet:
        return self.filter(kind="call")

    def due_today(self, now: dt.datetime | None = None) -> TouchpointQuerySet:
        """Pending touchpoints whose due date is today where the customer is."""
        return self.pending().filter(_local_date_q(now or timezone.now(), "exact"))

    def overdue(self, now: dt.datetime | None = None) -> TouchpointQuerySet:
        return self.pending().filter(_local_date_q(now or timezone.now(), "lt"))

    def due_by_today(self, now: dt.datetime | None = None) -> TouchpointQuerySet:
        """Due today or overdue."""
        return self.pending().filter(_local_date_q(now or timezone.now(), "lte"))

    def upcoming(self, now: dt.datetime | None = None) -> TouchpointQuerySet:
        return self.pending().filter(_local_date_q(now or timezone.now(), "gt"))

    def for_export(self) -> TouchpointQuerySet:
        return self.select_related("customer", "rule", "assignee").order_by("due_on", "id")
