"""What a call's outcome changes next, configured per cadence (README: "Reacting to outcomes").

- "no answer": another call a few business days later, up to a number of retries;
- "at risk": the account manager's lead is alerted, a follow-up call is scheduled, and the
  customer's celebratory cards are held back for a quiet period;
- a contact ("reached" or "at risk") moves the customer's `last_contact` milestone to today, so
  every cadence anchored on it starts its clock again (docs/calendar-rules.md rule 6 re-plans them).

Follow-ups are touchpoints of their own, unique per (follow_up_of, attempt): logging the same
outcome twice, or two people at once, creates one follow-up.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from campaigns import signals
from campaigns.models import Touchpoint
from campaigns.services.holds import apply_quiet_periods
from nurture.lib import calendar
from nurture.lib.customer_scope import CustomerScope
from nurture.models import Customer, Milestone, MilestoneKind
from nurture.signals import announce_customers_changed, bulk_changes

LAST_CONTACT = "last_contact"
# Customers read or written per query.
CHUNK = 1000


def react_to_outcome(*, touchpoint: Touchpoint, now: dt.datetime | None = None) -> list[Touchpoint]:
    """Apply the cadence's reactions to a call that was just logged. Returns the follow-ups created."""
    now = now or timezone.now()
    touchpoint = Touchpoint.objects.select_related("customer", "rule__cadence").get(pk=touchpoint.pk)
    customer = touchpoint.customer
    cadence = touchpoint.rule.cadence
    today = calendar.local_today(now, customer.time_zone)
    created: list[Touchpoint] = []
    with transaction.atomic():
        if touchpoint.outcome == Touchpoint.Outcome.NO_ANSWER:
            retries = cadence.no_answer_retry_days
            if retries is not None and touchpoint.attempt < cadence.no_answer_max_retries:
                created += _follow_up(touchpoint, calendar.business_days_after(today, retries, *_where(customer)))
        if touchpoint.outcome == Touchpoint.Outcome.AT_RISK:
            if cadence.at_risk_follow_up_days is not None:
                due = calendar.business_days_after(today, cadence.at_risk_follow_up_days, *_where(customer))
                created += _follow_up(touchpoint, due)
            quiet_until = today + dt.timedelta(days=cadence.at_risk_quiet_days)
            hold_celebrations(customer_ids=[customer.pk], quiet_until=quiet_until, now=now)
            signals.customer_at_risk.send(sender=Touchpoint, touchpoint_id=touchpoint.pk)
        if touchpoint.outcome in (Touchpoint.Outcome.REACHED, Touchpoint.Outcome.AT_RISK):
            record_contact(customer=customer, day=today)
    return created


def _where(customer: Customer) -> tuple[str, str]:
    return customer.country, customer.region


def _follow_up(touchpoint: Touchpoint, due_on: dt.date) -> list[Touchpoint]:
    root = touchpoint.follow_up_of_id or touchpoint.pk
    follow_up = Touchpoint(
        customer_id=touchpoint.customer_id,
        rule_id=touchpoint.rule_id,
        milestone_id=touchpoint.milestone_id,
        milestone_date=touchpoint.milestone_date,
        occurrence_index=touchpoint.occurrence_index,
        season=touchpoint.season,
        occurs_on=due_on,
        due_on=due_on,
        kind=Touchpoint.Kind.CALL,
        assignee_id=touchpoint.assignee_id,
        rule_version=touchpoint.rule_version,
        follow_up_of_id=root,
        attempt=touchpoint.attempt + 1,
    )
    # The unique (follow_up_of, attempt) constraint decides: a second submission creates nothing.
    Touchpoint.objects.bulk_create([follow_up], ignore_conflicts=True)
    return list(Touchpoint.objects.filter(follow_up_of_id=root, attempt=touchpoint.attempt + 1))


def hold_celebrations(*, customer_ids: list[int], quiet_until: dt.date, now: dt.datetime) -> int:
    """Hold back the celebratory cards due on or before quiet_until. Returns how many."""
    Customer.objects.filter(pk__in=customer_ids).exclude(quiet_until__gte=quiet_until).update(
        quiet_until=quiet_until, updated_at=now
    )
    return apply_quiet_periods(scope=CustomerScope.of(customer_ids), now=now)


def record_contact(*, customer: Customer, day: dt.date) -> None:
    """Move the customer's last_contact milestone to `day` (never backwards)."""
    record_contacts(days={customer.pk: day}, note="Set by a logged call")


def record_contacts(*, days: Mapping[int, dt.date], note: str, now: dt.datetime | None = None) -> set[int]:
    """Move each customer's last_contact milestone to their day (never backwards), set-based:
    one read, one bulk insert for customers without one, one UPDATE per distinct day.
    Returns the customers whose milestone moved or was created (they are re-planned)."""
    kind = MilestoneKind.objects.filter(slug=LAST_CONTACT).first()
    if kind is None or not days:  # an administrator deleted the kind: nothing restarts on contact
        return set()
    now = now or timezone.now()
    latest: dict[int, tuple[dt.date, int]] = {}
    ids = sorted(days)
    for start in range(0, len(ids), CHUNK):
        rows = Milestone.objects.filter(kind=kind, customer_id__in=ids[start : start + CHUNK])
        for customer_id, pk, date in rows.values_list("customer_id", "pk", "date"):
            if customer_id not in latest or latest[customer_id][0] < date:
                latest[customer_id] = (date, pk)
    create = [
        Milestone(customer_id=customer_id, kind=kind, date=day, note=note)
        for customer_id, day in days.items()
        if customer_id not in latest
    ]
    moves: dict[dt.date, list[int]] = defaultdict(list)
    for customer_id, (date, pk) in latest.items():
        if date < days[customer_id]:
            moves[days[customer_id]].append(pk)
    with transaction.atomic(), bulk_changes():
        Milestone.objects.bulk_create(create, batch_size=CHUNK, ignore_conflicts=True)
        for day, pks in moves.items():
            Milestone.objects.filter(pk__in=pks).update(date=day, updated_at=now)
    changed = {m.customer_id for m in create} | {c for c, (date, _) in latest.items() if date < days[c]}
    announce_customers_changed(sorted(changed))
    return changed
