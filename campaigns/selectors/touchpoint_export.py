"""Touchpoints as plain records, for the export command and the admin's CSV export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from campaigns.models import Touchpoint
from campaigns.models.touchpoints import TouchpointQuerySet

CHUNK_SIZE = 2000
FIELDS = [
    "customer",
    "customer_name",
    "rule",
    "kind",
    "occurs_on",
    "due_on",
    "status",
    "outcome",
    "assignee",
    "late",
    "cancel_reason",
]


def touchpoints(date_from: dt.date | None, date_to: dt.date | None) -> TouchpointQuerySet:
    queryset = Touchpoint.objects.for_export()
    if date_from is not None:
        queryset = queryset.filter(due_on__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(due_on__lte=date_to)
    # Rule is loaded whole: its __init__ reads its schedule fields, deferring them would
    # cost a query per row.
    return queryset.only(
        "customer__external_id",
        "customer__first_name",
        "customer__last_name",
        "rule",
        "assignee__username",
        "kind",
        "occurs_on",
        "due_on",
        "status",
        "outcome",
        "late",
        "cancel_reason",
    )


def records(queryset: TouchpointQuerySet) -> Iterator[dict[str, Any]]:
    """One plain dict per touchpoint: dates as ISO strings, no assignee as None."""
    for touchpoint in queryset.iterator(chunk_size=CHUNK_SIZE):
        yield {
            "customer": touchpoint.customer.external_id,
            "customer_name": touchpoint.customer.full_name,
            "rule": touchpoint.rule.slug,
            "kind": touchpoint.kind,
            "occurs_on": touchpoint.occurs_on.isoformat(),
            "due_on": touchpoint.due_on.isoformat(),
            "status": touchpoint.status,
            "outcome": touchpoint.outcome,
            "assignee": touchpoint.assignee.get_username() if touchpoint.assignee else None,
            "late": touchpoint.late,
            "cancel_reason": touchpoint.cancel_reason,
        }
