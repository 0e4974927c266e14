"""Referrals: created (the admin, the CSV import, the events in), qualified, voided.

Creating is all or nothing: every referral is checked first and a bad one names its position and
field (docs/referrals.md, "Guards"):

- no self-referral (also the database's check constraint referral_not_self);
- one referrer per referred customer (the unique referred column decides, also between two
  requests at once); the same referral sent again is the one already there;
- a referral brings in a *new* customer: refused when the referred customer was already a
  customer before it came in (the import and the events know: the row or the event did not create
  them), or when another customer has the same e-mail address or phone number, compared as
  nurture.lib.contacts reduces them (an expression index serves each).

A new referral is pending until the review period (NURTURE_REFERRAL_REVIEW_DAYS) has passed; with
none it qualifies at once, in the same transaction. Qualifying is a conditional UPDATE of pending
rows locked with SKIP LOCKED, so two runs at once qualify each referral once, and the referrer's
`referred_customer` milestone is one row per (customer, kind, day) whatever runs twice. The planner
then plans the "Referral thanks" cadence from that milestone (customers_changed).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from nurture.lib import calendar
from nurture.lib.contacts import email_key, phone_key
from nurture.models import Customer, Milestone, MilestoneKind, Referral
from nurture.models.customers import email_key as email_key_sql
from nurture.models.customers import phone_key as phone_key_sql
from nurture.services.customers import FieldProblem, InputError
from nurture.signals import announce_customers_changed, bulk_changes

REFERRED_CUSTOMER = "referred_customer"
REFERRED_CUSTOMER_NAME = "Referred a customer"
BATCH = 1000

# The names of the fields a problem is about; each caller says them its own way (the import's
# columns, the event's fields, the admin form's fields).
REFERRER, REFERRED, REFERRED_EMAIL, REFERRED_PHONE = "referrer", "referred", "referred.email", "referred.phone"


class ReferralError(ValueError):
    """A referral cannot change as asked (the admin's actions); nothing was changed."""


@dataclass(frozen=True)
class ReferralInput:
    referrer: Customer
    referred: Customer
    # False when the referred customer was a customer before the referral came in (an event or an
    # import row that updated them rather than created them).
    referred_is_new: bool = True


def _named(names: Mapping[str, str] | None, field: str) -> str:
    return (names or {}).get(field, field)


def _others_with(keys: dict[int, str], expression: models.Func, field: str) -> dict[int, bool]:
    """For each customer id, whether another customer has the same reduced value of `field`."""
    wanted = sorted({key for key in keys.values() if key})
    holders: dict[str, set[int]] = defaultdict(set)
    for start in range(0, len(wanted), BATCH):
        rows = (
            Customer.objects.exclude(**{field: ""})
            .annotate(key=expression)
            .filter(key__in=wanted[start : start + BATCH])
            .order_by()
            .values_list("key", "pk")
        )
        for key, pk in rows:
            holders[key].add(pk)
    return {pk: bool(holders.get(key, set()) - {pk}) for pk, key in keys.items() if key}


def referral_problems(
    rows: Sequence[ReferralInput], existing: Mapping[int, Referral], names: Mapping[str, str] | None = None
) -> list[FieldProblem]:
    """Every guard, for every row that is not already there (existing: the referrals by referred id)."""
    problems: list[FieldProblem] = []
    fresh: list[tuple[int, ReferralInput]] = []
    first_referrer: dict[int, int] = {}
    for index, row in enumerate(rows):
        referrer, referred = row.referrer, row.referred
        if referrer.pk == referred.pk:
            problems.append(FieldProblem(index, _named(names, REFERRER), "a customer cannot refer themselves"))
            continue
        there = existing.get(referred.pk)
        if there is not None:
            if there.referrer_id != referrer.pk:
                problems.append(
                    FieldProblem(
                        index,
                        _named(names, REFERRED),
                        f"{referred.external_id} was already referred by another customer "
                        "(one referrer per referred customer)",
                    )
                )
            continue
        if first_referrer.setdefault(referred.pk, referrer.pk) != referrer.pk:
            problems.append(
                FieldProblem(
                    index,
                    _named(names, REFERRED),
                    f"{referred.external_id} is named with two referrers (one referrer per referred customer)",
                )
            )
            continue
        if not row.referred_is_new:
            problems.append(
                FieldProblem(
                    index,
                    _named(names, REFERRED),
                    f"{referred.external_id} was already a customer: a referral brings in a new customer",
                )
            )
            continue
        fresh.append((index, row))
    emails = {row.referred.pk: email_key(row.referred.email) for _, row in fresh}
    phones = {row.referred.pk: phone_key(row.referred.phone) for _, row in fresh}
    email_taken = _others_with(emails, email_key_sql(), "email")
    phone_taken = _others_with(phones, phone_key_sql(), "phone")
    for index, row in fresh:
        if email_taken.get(row.referred.pk):
            problems.append(
                FieldProblem(
                    index,
                    _named(names, REFERRED_EMAIL),
                    f"another customer already has the e-mail address {row.referred.email!r}: "
                    "a referral brings in a new customer",
                )
            )
        if phone_taken.get(row.referred.pk):
            problems.append(
                FieldProblem(
                    index,
                    _named(names, REFERRED_PHONE),
                    f"another customer already has the phone number {row.referred.phone!r}: "
                    "a referral brings in a new customer",
                )
            )
    return sorted(problems, key=lambda problem: problem.index)


def _existing(referred_ids: Iterable[int]) -> dict[int, Referral]:
    ids = sorted(set(referred_ids))
    found: dict[int, Referral] = {}
    for start in range(0, len(ids), BATCH):
        for referral in Referral.objects.filter(referred_id__in=ids[start : start + BATCH]):
            found[referral.referred_id] = referral
    return found


def review_days() -> int:
    days: int = settings.NURTURE_REFERRAL_REVIEW_DAYS
    return days


def referrals_create(
    *,
    rows: Sequence[ReferralInput],
    source: str,
    source_name: str = "",
    names: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> list[Referral]:
    """Create the referrals, all or none; returns them in the order of `rows` (one already there as
    it is). Raises InputError naming every bad row and field (`names` renames the fields)."""
    if source not in Referral.Source.values:
        raise ValueError(f"Unknown referral source {source!r}")
    now = now or timezone.now()
    with transaction.atomic():
        existing = _existing(row.referred.pk for row in rows)
        problems = referral_problems(rows, existing, names)
        if problems:
            raise InputError(problems)
        qualifies_on = timezone.localdate(now) + dt.timedelta(days=review_days())
        new = [
            Referral(
                referrer=row.referrer,
                referred=row.referred,
                source=source,
                source_name=source_name[:50],
                qualifies_on=qualifies_on,
            )
            for row in {row.referred.pk: row for row in rows if row.referred.pk not in existing}.values()
        ]
        # ON CONFLICT DO NOTHING, then read back: a referral of the same customer made meanwhile by
        # another request wins, and ours is refused below if it names another referrer.
        Referral.objects.bulk_create(new, batch_size=BATCH, ignore_conflicts=True)
        stored = _existing(row.referred.pk for row in rows)
        raced = [
            FieldProblem(
                index,
                _named(names, REFERRED),
                f"{row.referred.external_id} was already referred by another customer "
                "(one referrer per referred customer)",
            )
            for index, row in enumerate(rows)
            if stored[row.referred.pk].referrer_id != row.referrer.pk
        ]
        if raced:
            raise InputError(raced)
        created = [stored[referral.referred_id].pk for referral in new]
        if created and review_days() == 0:
            _qualify(Referral.objects.filter(pk__in=created), now=now)
            stored = _existing(row.referred.pk for row in rows)
    return [stored[row.referred.pk] for row in rows]


def referral_create(*, referrer: Customer, referred: Customer, source: str, now: dt.datetime | None = None) -> Referral:
    """One referral (the admin): raises InputError naming the field, as referrals_create."""
    [referral] = referrals_create(rows=[ReferralInput(referrer=referrer, referred=referred)], source=source, now=now)
    return referral


def _kind() -> MilestoneKind:
    kind, _ = MilestoneKind.objects.get_or_create(slug=REFERRED_CUSTOMER, defaults={"name": REFERRED_CUSTOMER_NAME})
    return kind


def _qualify(pending: models.QuerySet[Referral], *, now: dt.datetime) -> int:
    """Qualify the pending referrals of `pending`, BATCH at a time. Returns how many.

    Each batch locks its rows (FOR UPDATE SKIP LOCKED: a run at the same time takes others or
    none), gives each referrer a referred_customer milestone on the day in their time zone (one per
    day, shared by the referrals qualified that day) and moves the rows to qualified.
    """
    kind = _kind()
    total = 0
    while True:
        with transaction.atomic(), bulk_changes():
            batch = list(
                pending.filter(status=Referral.Status.PENDING)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("referrer", "referred")
                .order_by("pk")[:BATCH]
            )
            if not batch:
                return total
            day_of = {r.pk: calendar.local_today(now, r.referrer.time_zone) for r in batch}
            Milestone.objects.bulk_create(
                [
                    Milestone(
                        customer_id=r.referrer_id,
                        kind=kind,
                        date=day_of[r.pk],
                        note=f"Referred {r.referred.external_id}"[:200],
                    )
                    for r in batch
                ],
                ignore_conflicts=True,  # milestone_unique_per_day: a second run adds none
            )
            milestone_of = {
                (customer_id, date): pk
                for customer_id, date, pk in Milestone.objects.filter(
                    kind=kind, customer_id__in={r.referrer_id for r in batch}, date__in=set(day_of.values())
                ).values_list("customer_id", "date", "pk")
            }
            by_milestone: dict[int, list[int]] = defaultdict(list)
            for r in batch:
                by_milestone[milestone_of[(r.referrer_id, day_of[r.pk])]].append(r.pk)
            for milestone_id, ids in by_milestone.items():
                total += Referral.objects.filter(pk__in=ids, status=Referral.Status.PENDING).update(
                    status=Referral.Status.QUALIFIED, qualified_at=now, milestone_id=milestone_id
                )
            Customer.objects.filter(pk__in={r.referrer_id for r in batch}).update(updated_at=now)
            announce_customers_changed(sorted({r.referrer_id for r in batch}))


def referrals_qualify_due(*, now: dt.datetime | None = None) -> int:
    """Qualify every pending referral whose review period has ended (Beat, daily). Returns how many."""
    now = now or timezone.now()
    due = Referral.objects.filter(status=Referral.Status.PENDING, qualifies_on__lte=timezone.localdate(now))
    return _qualify(due, now=now)


def _describe(referral: Referral) -> str:
    return f"{referral} ({referral.get_status_display().lower()})"


def referrals_qualify(*, referrals: Iterable[Referral], now: dt.datetime | None = None) -> int:
    """Qualify the chosen referrals now, before their review period ends (the admin's action).

    All or none: a referral that is not pending names itself and nothing changes.
    """
    now = now or timezone.now()
    ids = sorted({referral.pk for referral in referrals})
    with transaction.atomic():
        rows = list(Referral.objects.filter(pk__in=ids).select_for_update().select_related("referrer", "referred"))
        bad = [_describe(r) for r in rows if r.status != Referral.Status.PENDING]
        if bad:
            raise ReferralError(f"Nothing was qualified: only pending referrals qualify, not {'; '.join(bad)}.")
        return _qualify(Referral.objects.filter(pk__in=ids), now=now)


def referrals_void(*, referrals: Iterable[Referral], reason: str, now: dt.datetime | None = None) -> int:
    """Void the chosen referrals, all or none (a thanked or void one names itself). Returns how many.

    A qualified referral's milestone is deleted when no other live referral shares it, so the
    planner cancels the thank-you not yet made ("milestone deleted"); what was done stays history.
    """
    reason = reason.strip()
    if not reason:
        raise ReferralError("Say why the referral is void: a reason is required.")
    now = now or timezone.now()
    ids = sorted({referral.pk for referral in referrals})
    with transaction.atomic():
        rows = list(Referral.objects.filter(pk__in=ids).select_for_update().select_related("referrer", "referred"))
        bad = [_describe(r) for r in rows if r.status not in Referral.VOIDABLE]
        if bad:
            raise ReferralError(
                f"Nothing was voided: only pending and qualified referrals can be, not {'; '.join(bad)}."
            )
        voided = Referral.objects.filter(pk__in=ids).update(
            status=Referral.Status.VOID, voided_at=now, void_reason=reason[:200]
        )
        milestones = {r.milestone_id for r in rows if r.milestone_id is not None}
        shared = set(
            Referral.objects.filter(milestone_id__in=milestones)
            .exclude(status=Referral.Status.VOID)
            .values_list("milestone_id", flat=True)
        )
        # A model delete per milestone: nurture.receivers announces each customer to re-plan.
        for milestone in Milestone.objects.filter(pk__in=milestones - shared):
            milestone.delete()
    return voided
