"""Events in: what another system (a CRM, a survey tool) tells us happened to a customer.

``events_apply`` is the one way in for every source: the API's ``POST /api/v1/events`` now, the
CRM adapters later. A list of events is applied in one transaction: every event is checked, and
one bad event (its position and field named) applies none of them. Each event names its
customer by ``external_id``; a customer not seen before is created with the fields the event
gives (a first and a last name at least), a known one is updated with them.

What each type does:

| type                 | effect                                                              |
|----------------------|---------------------------------------------------------------------|
| customer.created     | the customer is created or updated, nothing more                    |
| deal.won             | a ``became_customer`` milestone on the event's date                 |
| renewal.signed       | a ``renewal`` milestone on ``renewal_date`` (or the event's date)   |
| job.placed           | a ``job_placement`` milestone on the event's date                   |
| referral.converted   | the referred customer is created and a Referral links them to the   |
|                      | referrer (``referrer_external_id``); when it qualifies (at once, or |
|                      | after the review period) the referrer gets a ``referred_customer``  |
|                      | milestone (nurture.services.referrals, docs/referrals.md)           |
| nps.responded        | an NPS activity with the score (0-10), a contact                    |

The event's date is ``date`` when given, otherwise the day of ``occurred_at`` in the customer's
time zone. Milestones already there (same customer, kind and date) are not added twice, and an
NPS response with an ``id`` already recorded from the same source is recorded once. A referral's
guards (no self-referral, one referrer per referred customer, the referred customer new: not a
customer before the event, no other customer with their e-mail or phone) refuse the event and
name its field; the same referral sent again is the one already there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from campaigns.services.activities import ActivityInput, activities_record
from nurture.lib import calendar
from nurture.models import Customer, Referral
from nurture.services.customers import (
    CustomerInput,
    FieldProblem,
    InputError,
    MilestoneInput,
    customers_upsert,
    milestones_add,
)
from nurture.services.referrals import (
    REFERRED,
    REFERRED_EMAIL,
    REFERRED_PHONE,
    REFERRER,
    ReferralInput,
    referrals_create,
)

# The largest batch one call applies.
MAX_EVENTS = 1000


class EventType:
    CUSTOMER_CREATED = "customer.created"
    DEAL_WON = "deal.won"
    RENEWAL_SIGNED = "renewal.signed"
    JOB_PLACED = "job.placed"
    REFERRAL_CONVERTED = "referral.converted"
    NPS_RESPONDED = "nps.responded"

    ALL = (CUSTOMER_CREATED, DEAL_WON, RENEWAL_SIGNED, JOB_PLACED, REFERRAL_CONVERTED, NPS_RESPONDED)


# The milestone kind each type records on the event's customer.
MILESTONE_OF = {
    EventType.DEAL_WON: "became_customer",
    EventType.RENEWAL_SIGNED: "renewal",
    EventType.JOB_PLACED: "job_placement",
}
# Kinds an event may need that an administrator might not have made (created when missing).
BUILT_IN_KINDS = tuple(MILESTONE_OF.values())
# A referral's problems, named as the event's fields.
REFERRAL_FIELDS = {
    REFERRER: "referrer_external_id",
    REFERRED: "customer.external_id",
    REFERRED_EMAIL: "customer.email",
    REFERRED_PHONE: "customer.phone",
}


@dataclass(frozen=True)
class EventInput:
    type: str
    customer: CustomerInput
    occurred_at: dt.datetime | None = None
    id: str = ""  # the event's id in its source, e.g. the survey answer's
    date: dt.date | None = None
    renewal_date: dt.date | None = None
    score: int | None = None
    comment: str = ""
    referrer_external_id: str = ""


@dataclass(frozen=True)
class EventOutcome:
    type: str
    customer: str  # the customer's external_id
    customer_created: bool
    milestones_created: list[str] = field(default_factory=list)  # "became_customer 2026-03-01"
    activity_id: int | None = None
    referral_id: int | None = None
    referral_status: str = ""  # pending (in review) or qualified, for referral.converted


def _day(event: EventInput, customer: Customer, now: dt.datetime) -> dt.date:
    if event.date is not None:
        return event.date
    return calendar.local_today(event.occurred_at or now, customer.time_zone)


def _check(events: Sequence[EventInput], source: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if len(events) > MAX_EVENTS:
        problems.append(FieldProblem(MAX_EVENTS, "events", f"at most {MAX_EVENTS} events at once, not {len(events)}"))
    for index, event in enumerate(events):
        if event.type not in EventType.ALL:
            problems.append(
                FieldProblem(index, "type", f"unknown event type {event.type!r}; expected {', '.join(EventType.ALL)}")
            )
        if event.occurred_at is not None and timezone.is_naive(event.occurred_at):
            problems.append(FieldProblem(index, "occurred_at", "needs a time zone offset, e.g. 2026-03-01T10:00Z"))
        if event.type == EventType.NPS_RESPONDED and event.score is None:
            problems.append(FieldProblem(index, "score", "an NPS response needs a score (0-10)"))
        if not event.customer.external_id:
            problems.append(FieldProblem(index, "customer.external_id", "required"))
        if event.type == EventType.REFERRAL_CONVERTED and not event.referrer_external_id:
            problems.append(FieldProblem(index, "referrer_external_id", "required: the customer who referred them"))
        elif event.type == EventType.REFERRAL_CONVERTED and event.referrer_external_id == event.customer.external_id:
            problems.append(FieldProblem(index, "referrer_external_id", "a customer cannot refer themselves"))
    return problems


def events_apply(
    *,
    by: AbstractBaseUser,
    events: Sequence[EventInput],
    source: str = "",
    referral_source: str = Referral.Source.API,
    now: dt.datetime | None = None,
) -> list[EventOutcome]:
    """Apply the events, all or none. Raises InputError naming every bad event and field.

    referral_source: how referrals of these events came in (the API's events, or a CRM's).
    """
    now = now or timezone.now()
    problems = _check(events, source)
    if problems:
        raise InputError(problems)
    with transaction.atomic():
        upserted = customers_upsert(by=by, rows=[event.customer for event in events], field_prefix="customer.", now=now)
        customers = upserted.customers
        referrers = _referrers(by, events)
        milestone_rows: list[MilestoneInput] = []
        milestone_of_event: list[tuple[int, str]] = []
        activity_rows: list[ActivityInput] = []
        activity_of_event: list[int] = []
        referral_rows: list[ReferralInput] = []
        referral_of_event: list[int] = []
        for index, event in enumerate(events):
            customer = customers[event.customer.external_id]
            kind = MILESTONE_OF.get(event.type)
            if kind is not None:
                day = event.renewal_date if event.type == EventType.RENEWAL_SIGNED and event.renewal_date else None
                milestone_rows.append(
                    MilestoneInput(customer=customer, kind=kind, date=day or _day(event, customer, now))
                )
                milestone_of_event.append((index, event.customer.external_id))
            if event.type == EventType.REFERRAL_CONVERTED:
                referral_rows.append(
                    ReferralInput(
                        referrer=referrers[event.referrer_external_id],
                        referred=customer,
                        referred_is_new=event.customer.external_id in upserted.created,
                    )
                )
                referral_of_event.append(index)
            if event.type == EventType.NPS_RESPONDED:
                activity_rows.append(
                    ActivityInput(
                        customer=customer,
                        channel="nps",
                        occurred_at=event.occurred_at or now,
                        subject=event.comment[:200],
                        score=event.score,
                        source=source,
                        external_id=event.id,
                    )
                )
                activity_of_event.append(index)
        try:
            new_milestones = milestones_add(rows=milestone_rows, create_kinds=BUILT_IN_KINDS)
        except InputError as exc:
            raise _renumbered(exc, [index for index, _ in milestone_of_event]) from None
        try:
            activities = activities_record(rows=activity_rows, now=now)
        except InputError as exc:
            raise _renumbered(exc, activity_of_event) from None
        try:
            referrals = referrals_create(
                rows=referral_rows, source=referral_source, source_name=source, names=REFERRAL_FIELDS, now=now
            )
        except InputError as exc:
            raise _renumbered(exc, referral_of_event) from None
    created_milestones: dict[int, list[str]] = {}
    for (index, external_id), row, new in zip(milestone_of_event, milestone_rows, new_milestones, strict=True):
        if new:
            created_milestones.setdefault(index, []).append(f"{external_id}: {row.kind} {row.date.isoformat()}")
    activity_ids = dict(zip(activity_of_event, (a.pk for a in activities), strict=True))
    referral_of = dict(zip(referral_of_event, referrals, strict=True))
    return [
        EventOutcome(
            type=event.type,
            customer=event.customer.external_id,
            customer_created=event.customer.external_id in upserted.created,
            milestones_created=created_milestones.get(index, []),
            activity_id=activity_ids.get(index),
            referral_id=referral_of[index].pk if index in referral_of else None,
            referral_status=referral_of[index].status if index in referral_of else "",
        )
        for index, event in enumerate(events)
    ]


def _referrers(by: AbstractBaseUser, events: Sequence[EventInput]) -> dict[str, Customer]:
    wanted = {e.referrer_external_id for e in events if e.type == EventType.REFERRAL_CONVERTED}
    if not wanted:
        return {}
    found = {c.external_id: c for c in Customer.objects.visible_to(by).filter(external_id__in=wanted)}
    problems = [
        FieldProblem(index, "referrer_external_id", f"no customer {event.referrer_external_id!r} among yours")
        for index, event in enumerate(events)
        if event.type == EventType.REFERRAL_CONVERTED and event.referrer_external_id not in found
    ]
    if problems:
        raise InputError(problems)
    return found


def _renumbered(error: InputError, positions: Sequence[int]) -> InputError:
    """The problems of a sub-list (the milestones, the activities) at their events' positions."""
    return InputError([FieldProblem(positions[p.index], p.field, p.message) for p in error.problems])
