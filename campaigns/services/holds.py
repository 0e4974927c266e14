"""Touchpoints planned but held back, with the reason visible on each.

- The quiet period: while a customer is at risk (Customer.quiet_until), celebratory cards due
  until then are held.
- The frequency cap (setting NURTURE_FREQUENCY_CAP, "N/M"): at most N touchpoints per customer in
  any M days, calls and cards together. Done touchpoints and activities (touches made in other
  channels: an e-mail sent, a meeting, ...) always count; pending ones are kept in due-date order
  while they fit, the rest are held.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db.models import Count, F, Q

from campaigns.models import Activity, Touchpoint
from nurture.lib.customer_scope import CustomerScope

QUIET_PERIOD_REASON = "customer at risk: quiet period"


def apply_quiet_periods(*, now: dt.datetime, scope: CustomerScope) -> int:
    """Hold the pending celebratory cards of customers in a quiet period. Returns how many."""
    return (
        Touchpoint.objects.filter(scope.q())
        .filter(
            status=Touchpoint.Status.PENDING,
            kind=Touchpoint.Kind.CARD,
            rule__celebratory=True,
            customer__quiet_until__gte=F("due_on"),
        )
        .update(status=Touchpoint.Status.HELD, hold_reason=QUIET_PERIOD_REASON, updated_at=now)
    )


def frequency_cap() -> tuple[int, int] | None:
    cap: tuple[int, int] | None = settings.NURTURE_FREQUENCY_CAP
    return cap


def apply_frequency_cap(
    *,
    as_of: dt.date,
    now: dt.datetime,
    scope: CustomerScope,
) -> int:
    """Hold the pending touchpoints that would break the cap. Returns how many were held."""
    cap = frequency_cap()
    if cap is None:
        return 0
    limit, days = cap
    counted = Touchpoint.objects.filter(scope.q()).filter(
        status__in=[Touchpoint.Status.PENDING, Touchpoint.Status.DONE],
        due_on__gte=as_of - dt.timedelta(days=days),
    )
    # Activities in the window count like done touchpoints.
    since = dt.datetime.combine(as_of - dt.timedelta(days=days), dt.time.min, tzinfo=dt.UTC)
    activity_days: dict[int, list[dt.date]] = defaultdict(list)
    for customer_id, occurred_at in (
        Activity.objects.filter(scope.q()).filter(occurred_at__gte=since).values_list("customer_id", "occurred_at")
    ):
        activity_days[customer_id].append(occurred_at.date())
    # Only customers with more than `limit` touches in the whole range can break the cap.
    per_customer = counted.order_by().values("customer_id").annotate(n=Count("id"))
    crowded = per_customer.filter(n__gt=limit).values("customer_id")
    with_activities = [
        row["customer_id"]
        for row in per_customer.filter(customer_id__in=list(activity_days))
        if row["n"] + len(activity_days[row["customer_id"]]) > limit
    ]
    rows = counted.filter(Q(customer_id__in=crowded) | Q(customer_id__in=with_activities)).order_by(
        "customer_id", "due_on", "id"
    )
    by_customer: dict[int, list[tuple[int, dt.date, str]]] = defaultdict(list)
    for pk, customer_id, due_on, status in rows.values_list("id", "customer_id", "due_on", "status"):
        by_customer[customer_id].append((pk, due_on, status))
    held: list[int] = []
    window = dt.timedelta(days=days)
    for customer_id, touchpoints in by_customer.items():
        kept = [due_on for _, due_on, status in touchpoints if status == Touchpoint.Status.DONE]
        kept += activity_days.get(customer_id, [])
        for pk, due_on, status in touchpoints:
            if status == Touchpoint.Status.DONE:
                continue
            if sum(1 for other in kept if due_on - window < other <= due_on) >= limit:
                held.append(pk)
            else:
                kept.append(due_on)
    reason = f"frequency cap: at most {limit} touchpoints in {days} days"
    total = 0
    for start in range(0, len(held), 1000):
        total += Touchpoint.objects.filter(pk__in=held[start : start + 1000], status=Touchpoint.Status.PENDING).update(
            status=Touchpoint.Status.HELD, hold_reason=reason, updated_at=now
        )
    return total
