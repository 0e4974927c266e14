"""Touchpoints planned but held back, with the reason visible on each.

- The quiet period: while a customer is at risk (Customer.quiet_until), celebratory cards due
  until then are held, and so are the calls of rules held while at risk (Rule.hold_while_at_risk:
  asking for a referral is never done within the quiet period after an "at risk" outcome).
- The frequency cap (setting NURTURE_FREQUENCY_CAP, "N/M"): at most N touchpoints per customer in
  any M days, calls and cards together. Done touchpoints and activities (touches made in other
  channels: an e-mail sent, a meeting, ...) always count; pending ones are kept in due-date order
  while they fit, the rest are held.
- An undeliverable address (Customer.address_undeliverable_on, set when a card came back): every
  pending card of the customer is held, "address undeliverable since <date>". When the address
  changes the flag clears (nurture.models.Customer.save, the import) and the next planning of the
  customer releases them: pending again, each open card's recipient copied afresh from the
  customer. Calls are not held: a phone number does not depend on the address.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db.models import Count, F, Q

from campaigns.models import Activity, Card, Touchpoint
from campaigns.statuses import CARD_OPEN, UNDELIVERABLE_HOLD_REASON
from nurture.lib.address import ADDRESS_FIELDS
from nurture.lib.customer_scope import CustomerScope

QUIET_PERIOD_REASON = "customer at risk: quiet period"
_CHUNK = 1000


def undeliverable_reason(day: dt.date) -> str:
    return f"{UNDELIVERABLE_HOLD_REASON}{day.isoformat()}"


def apply_undeliverable_addresses(*, now: dt.datetime, scope: CustomerScope) -> int:
    """Hold the pending card touchpoints of customers whose address is flagged. Returns how many.

    One UPDATE per date of flag among the customers in scope (the reason names the date): a
    handful, however many customers.
    """
    if scope.is_empty:
        return 0
    pending = Touchpoint.objects.filter(scope.q()).filter(
        status=Touchpoint.Status.PENDING,
        kind=Touchpoint.Kind.CARD,
        customer__address_undeliverable_on__isnull=False,
    )
    days = pending.order_by().values_list("customer__address_undeliverable_on", flat=True).distinct()
    held = 0
    for day in sorted(day for day in days if day is not None):
        held += pending.filter(customer__address_undeliverable_on=day).update(
            status=Touchpoint.Status.HELD, hold_reason=undeliverable_reason(day), updated_at=now
        )
    return held


def release_deliverable_addresses(*, now: dt.datetime, scope: CustomerScope) -> int:
    """Release the cards held for an address that is no longer flagged. Returns how many touchpoints.

    Their open cards (draft or approved) get the customer's name and address afresh: the old
    snapshot is the address the card came back from. A card already in a batch keeps its label;
    the print room's "withdrawn" list took it out of the pile while it was held.
    """
    if scope.is_empty:
        return 0
    ids = list(
        Touchpoint.objects.filter(scope.q())
        .filter(
            status=Touchpoint.Status.HELD,
            hold_reason__startswith=UNDELIVERABLE_HOLD_REASON,
            customer__address_undeliverable_on__isnull=True,
        )
        .order_by()
        .values_list("pk", flat=True)
    )
    released = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        released += Touchpoint.objects.filter(pk__in=chunk, status=Touchpoint.Status.HELD).update(
            status=Touchpoint.Status.PENDING, hold_reason="", updated_at=now
        )
        _refresh_recipients(touchpoint_ids=chunk, now=now)
    return released


def _refresh_recipients(*, touchpoint_ids: list[int], now: dt.datetime) -> int:
    cards = list(
        Card.objects.filter(touchpoint_id__in=touchpoint_ids, status__in=CARD_OPEN).select_related(
            "touchpoint__customer"
        )
    )
    for card in cards:
        customer = card.touchpoint.customer
        card.recipient_name = customer.full_name
        card.recipient_company = customer.company
        for name, value in customer.address.as_dict().items():
            setattr(card, name, value)
        card.updated_at = now
    return Card.objects.bulk_update(
        cards, ["recipient_name", "recipient_company", *ADDRESS_FIELDS, "updated_at"], batch_size=_CHUNK
    )


def apply_quiet_periods(*, now: dt.datetime, scope: CustomerScope) -> int:
    """Hold the pending celebratory cards, and calls held while at risk, of customers in a quiet
    period. Returns how many."""
    quiet = Q(kind=Touchpoint.Kind.CARD, rule__celebratory=True) | Q(
        kind=Touchpoint.Kind.CALL, rule__hold_while_at_risk=True
    )
    return (
        Touchpoint.objects.filter(scope.q())
        .filter(quiet, status=Touchpoint.Status.PENDING, customer__quiet_until__gte=F("due_on"))
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
