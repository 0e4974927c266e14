"""Activities: touches made in other channels, recorded one set at a time.

Recording activities is all or nothing: every row is checked first and a bad one names its
position and field. An activity sent twice (same source and external id) is recorded once (the
unique constraint decides, so two requests at once also record it once). Each customer's
latest past activity is a contact: their last_contact milestone moves to that day in their time
zone (services/reactions.record_contacts), which restarts the cadences anchored on it. An NPS
answer of 9 or 10 also records a `promoter_score` milestone on its day (one per customer and day),
which the "Ask for a referral" cadence counts from (docs/referrals.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from campaigns.models import Activity
from campaigns.models.activities import PROMOTER_MIN_SCORE, PROMOTER_SCORE_KIND
from campaigns.services.reactions import record_contacts
from nurture.lib import calendar
from nurture.models import Customer, Milestone, MilestoneKind
from nurture.services.customers import FieldProblem, InputError
from nurture.signals import announce_customers_changed, bulk_changes

BATCH = 1000


@dataclass(frozen=True)
class ActivityInput:
    customer: Customer
    channel: str
    occurred_at: dt.datetime
    subject: str = ""
    score: int | None = None
    source: str = ""
    external_id: str = ""


def _problems(index: int, row: ActivityInput, prefix: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if row.channel not in Activity.Channel.values:
        expected = ", ".join(Activity.Channel.values)
        problems.append(
            FieldProblem(index, f"{prefix}channel", f"unknown channel {row.channel!r}; expected {expected}")
        )
    if timezone.is_naive(row.occurred_at):
        problems.append(FieldProblem(index, f"{prefix}occurred_at", "needs a time zone offset, e.g. 2026-03-01T10:00Z"))
    if row.score is not None:
        top = 10 if row.channel == Activity.Channel.NPS else 100
        if not 0 <= row.score <= top:
            problems.append(FieldProblem(index, f"{prefix}score", f"must be between 0 and {top}"))
    for name in ("subject", "source", "external_id"):
        limit = getattr(Activity._meta.get_field(name), "max_length", None) or 0
        if len(getattr(row, name)) > limit:
            problems.append(FieldProblem(index, f"{prefix}{name}", f"at most {limit} characters"))
    return problems


def activities_record(
    *, rows: Sequence[ActivityInput], field_prefix: str = "", now: dt.datetime | None = None
) -> list[Activity]:
    """Record the activities and count them as contacts. Returns the activities, in the order of
    `rows` (one sent before is returned as it was stored then)."""
    now = now or timezone.now()
    problems = [problem for index, row in enumerate(rows) for problem in _problems(index, row, field_prefix)]
    if problems:
        raise InputError(problems)
    activities = [
        Activity(
            customer=row.customer,
            channel=row.channel,
            occurred_at=row.occurred_at,
            subject=row.subject,
            score=row.score,
            source=row.source,
            external_id=row.external_id,
        )
        for row in rows
    ]
    with transaction.atomic():
        keyed = [a for a in activities if a.external_id]
        Activity.objects.bulk_create([a for a in activities if not a.external_id], batch_size=BATCH)
        if keyed:
            # ON CONFLICT DO NOTHING: what was recorded before stays; then read back every keyed one.
            Activity.objects.bulk_create(keyed, batch_size=BATCH, ignore_conflicts=True)
            stored: dict[tuple[str, str], Activity] = {}
            pairs = sorted({(a.source, a.external_id) for a in keyed})
            for start in range(0, len(pairs), BATCH):
                sources = {source for source, _ in pairs[start : start + BATCH]}
                ids = {external_id for _, external_id in pairs[start : start + BATCH]}
                for activity in Activity.objects.filter(source__in=sources, external_id__in=ids):
                    stored[(activity.source, activity.external_id)] = activity
            activities = [stored.get((a.source, a.external_id), a) if a.external_id else a for a in activities]
        contact_days: dict[int, dt.date] = {}
        for row in rows:
            if row.occurred_at <= now:  # a meeting booked for next week is not a contact yet
                day = calendar.local_today(row.occurred_at, row.customer.time_zone)
                if contact_days.get(row.customer.pk, dt.date.min) < day:
                    contact_days[row.customer.pk] = day
        record_contacts(days=contact_days, note="Set by an activity", now=now)
        _record_promoters(rows, now=now)
    return activities


def _record_promoters(rows: Sequence[ActivityInput], *, now: dt.datetime) -> None:
    """A promoter_score milestone for each past NPS answer of 9 or 10, on its day in the customer's
    time zone; one already there (same customer and day) is left alone."""
    promoters = {
        (row.customer.pk, calendar.local_today(row.occurred_at, row.customer.time_zone))
        for row in rows
        if row.channel == Activity.Channel.NPS
        and row.score is not None
        and row.score >= PROMOTER_MIN_SCORE
        and row.occurred_at <= now
    }
    kind = MilestoneKind.objects.filter(slug=PROMOTER_SCORE_KIND).first()
    if kind is None or not promoters:  # an administrator deleted the kind: nothing asks for referrals
        return
    with bulk_changes():
        Milestone.objects.bulk_create(
            [Milestone(customer_id=pk, kind=kind, date=day, note="NPS 9-10") for pk, day in sorted(promoters)],
            batch_size=BATCH,
            ignore_conflicts=True,
        )
    announce_customers_changed(sorted({pk for pk, _ in promoters}))
