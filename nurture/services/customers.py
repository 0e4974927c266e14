"""Customers and milestones written one set at a time: the API's upserts and the events in.

``customers_upsert`` takes any number of customers named by ``external_id`` with the fields
given (a field not given is left as it is; a new customer needs a first and a last name). Every
row is checked before anything is written, and a bad row names its position and field: all or
nothing. The writes are a bulk INSERT and a bulk UPDATE, not a save per customer, so a batch of
a thousand costs a few queries; the planner is told once, at the end, which customers changed.

Scoping: a customer the acting user does not see (CustomerScopedQuerySet.visible_to) cannot be
updated through here; new customers are the acting user's own (their account manager).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from nurture.models import Customer, Milestone, MilestoneKind, Tag
from nurture.models.customers import PLAIN_FIELDS
from nurture.querysets import sees_all_customers
from nurture.signals import announce_customers_changed, bulk_changes

BATCH = 1000


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one input: its position in the list, the field, and why."""

    index: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"[{self.index}] {self.field}: {self.message}"


class InputError(ValueError):
    """Some inputs are bad; nothing was written. `problems` names every one."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class CustomerInput:
    external_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] | None = None  # None: leave the tags alone; a list replaces them


@dataclass
class UpsertResult:
    customers: dict[str, Customer] = field(default_factory=dict)  # by external_id
    created: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)


def _existing(external_ids: Iterable[str]) -> dict[str, Customer]:
    ids = list(external_ids)
    found: dict[str, Customer] = {}
    for start in range(0, len(ids), BATCH):
        for customer in Customer.objects.filter(external_id__in=ids[start : start + BATCH]):
            found[customer.external_id] = customer
    return found


def _check(customer: Customer, index: int, prefix: str) -> list[FieldProblem]:
    try:
        # Constraints are checked by the database at the insert; validating them here would cost
        # a query per customer.
        customer.full_clean(exclude=["account_manager"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        return [
            FieldProblem(index, f"{prefix}{name}" if name != "__all__" else prefix.rstrip("."), message)
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return []


def customers_upsert(
    *, by: AbstractBaseUser, rows: Sequence[CustomerInput], field_prefix: str = "", now: dt.datetime | None = None
) -> UpsertResult:
    """Create or update the customers; every row is checked first, then all are written or none.

    Rows naming the same external_id are merged in order (a later field wins). `field_prefix`
    is put before field names in problems (the events say "customer.email").
    """
    now = now or timezone.now()
    existing = _existing({row.external_id for row in rows})
    visible_all = sees_all_customers(by)
    problems: list[FieldProblem] = []
    result = UpsertResult()
    tags_for: dict[str, list[str]] = {}
    # What the stored customers held before this call, to write (and re-plan) only those that change.
    stored_values: dict[str, tuple[object, ...]] = {}
    for index, row in enumerate(rows):
        unknown = sorted(set(row.fields) - set(PLAIN_FIELDS))
        problems += [FieldProblem(index, f"{field_prefix}{name}", "not a customer field") for name in unknown]
        current = result.customers.get(row.external_id) or existing.get(row.external_id)
        if current is not None and current.pk is not None and not visible_all and current.account_manager_id != by.pk:
            problems.append(
                FieldProblem(index, f"{field_prefix}external_id", "belongs to a customer you do not manage")
            )
            continue
        if current is None:
            current = Customer(external_id=row.external_id, account_manager_id=by.pk, updated_at=now, created_at=now)
        elif current.pk is not None and row.external_id not in stored_values:
            stored_values[row.external_id] = _values(current)
        for name, value in row.fields.items():
            if name in PLAIN_FIELDS:
                setattr(current, name, "" if value is None else value)
        row_problems = _check(current, index, field_prefix)
        for name in ("first_name", "last_name"):
            if current.pk is None and not getattr(current, name) and name not in row.fields:
                row_problems = [p for p in row_problems if p.field != f"{field_prefix}{name}"]
                row_problems.append(FieldProblem(index, f"{field_prefix}{name}", "required to create a customer"))
        problems += row_problems
        if row.tags is not None:
            bad = [slug for slug in row.tags if not slug or len(slug) > 50 or not slug.replace("-", "").isalnum()]
            problems += [FieldProblem(index, f"{field_prefix}tags", f"{slug!r} is not a tag slug") for slug in bad]
            tags_for[row.external_id] = sorted(set(row.tags))
        result.customers[row.external_id] = current
        (result.created if current.pk is None else result.updated).add(row.external_id)
    if problems:
        raise InputError(problems)
    with transaction.atomic(), bulk_changes():
        new = [customer for customer in result.customers.values() if customer.pk is None]
        old = [customer for customer in result.customers.values() if customer.pk is not None]
        for customer in new:
            customer.sync_churned_on(timezone.localdate(now))
        Customer.objects.bulk_create(new, batch_size=BATCH)
        if any(customer.pk is None for customer in new):  # a backend that returns no ids
            result.customers.update(_existing(customer.external_id for customer in new))
        retagged = _set_tags(result.customers, tags_for)
        # Every write bumps updated_at: the planner's incremental pass looks for it.
        changed = [c for c in old if _values(c) != stored_values[c.external_id] or c.pk in retagged]
        today = timezone.localdate(now)
        for customer in changed:
            customer.updated_at = now
            # What a save() would do: the day a customer churned, and a new address clears the
            # undeliverable flag (the re-plan then releases the held cards).
            customer.sync_churned_on(today)
            customer.forget_undeliverable_if_moved()
        Customer.objects.bulk_update(
            changed,
            [*PLAIN_FIELDS, "address_undeliverable_on", "churned_on", "updated_at"],
            batch_size=BATCH,
        )
        result.updated = {customer.external_id for customer in changed}
        announce_customers_changed([customer.pk for customer in new + changed])
    return result


def _values(customer: Customer) -> tuple[object, ...]:
    return tuple(getattr(customer, name) for name in PLAIN_FIELDS)


def _set_tags(customers: Mapping[str, Customer], tags_for: Mapping[str, list[str]]) -> set[int]:
    """Give each customer in `tags_for` exactly those tags (created when missing). Returns the
    customers whose tags changed."""
    if not tags_for:
        return set()
    wanted = {slug for slugs in tags_for.values() for slug in slugs}
    tags = dict(Tag.objects.filter(slug__in=wanted).values_list("slug", "id"))
    missing = sorted(wanted - set(tags))
    if missing:
        Tag.objects.bulk_create([Tag(slug=slug, name=slug.replace("-", " ").title()) for slug in missing])
        tags.update(Tag.objects.filter(slug__in=missing).values_list("slug", "id"))
    through = Customer.tags.through
    ids = [customers[external_id].pk for external_id in tags_for]
    current: dict[int, set[int]] = {}
    for start in range(0, len(ids), BATCH):
        for customer_id, tag_id in through.objects.filter(customer_id__in=ids[start : start + BATCH]).values_list(
            "customer_id", "tag_id"
        ):
            current.setdefault(customer_id, set()).add(tag_id)
    changed: set[int] = set()
    add: list[Any] = []
    for external_id, slugs in tags_for.items():
        pk = customers[external_id].pk
        want, have = {tags[slug] for slug in slugs}, current.get(pk, set())
        if want != have:
            changed.add(pk)
            add += [through(customer_id=pk, tag_id=tag_id) for tag_id in want - have]
            if have - want:
                through.objects.filter(customer_id=pk, tag_id__in=have - want).delete()
    through.objects.bulk_create(add, batch_size=BATCH)
    return changed


@dataclass(frozen=True)
class MilestoneInput:
    customer: Customer
    kind: str  # the kind's slug
    date: dt.date
    note: str = ""


def milestones_add(
    *, rows: Sequence[MilestoneInput], field_prefix: str = "", create_kinds: Iterable[str] = ()
) -> list[bool]:
    """Add the milestones; one already there (same customer, kind and date) is left alone.

    Returns, for each row, whether it was new. Unknown kinds are an error naming the row, except
    those in `create_kinds` (built-in kinds an event needs), which are created.
    """
    slugs = {row.kind for row in rows}
    kinds = dict(MilestoneKind.objects.filter(slug__in=slugs).values_list("slug", "id"))
    for slug in sorted(set(create_kinds) & (slugs - set(kinds))):
        kinds[slug] = MilestoneKind.objects.get_or_create(
            slug=slug, defaults={"name": slug.replace("_", " ").capitalize()}
        )[0].pk
    problems = [
        FieldProblem(index, f"{field_prefix}kind", f"unknown milestone kind {row.kind!r}")
        for index, row in enumerate(rows)
        if row.kind not in kinds
    ]
    max_note = Milestone._meta.get_field("note").max_length or 0
    problems += [
        FieldProblem(index, f"{field_prefix}note", f"at most {max_note} characters")
        for index, row in enumerate(rows)
        if len(row.note) > max_note
    ]
    if problems:
        raise InputError(problems)
    customer_ids = {row.customer.pk for row in rows}
    there: set[tuple[int, int, dt.date]] = set()
    ids = sorted(customer_ids)
    for start in range(0, len(ids), BATCH):
        there.update(
            Milestone.objects.filter(
                customer_id__in=ids[start : start + BATCH], kind_id__in=kinds.values()
            ).values_list("customer_id", "kind_id", "date")
        )
    new: list[bool] = []
    create: list[Milestone] = []
    for row in rows:
        key = (row.customer.pk, kinds[row.kind], row.date)
        new.append(key not in there)
        if key not in there:
            there.add(key)
            create.append(Milestone(customer_id=row.customer.pk, kind_id=kinds[row.kind], date=row.date, note=row.note))
    with transaction.atomic(), bulk_changes():
        Milestone.objects.bulk_create(create, batch_size=BATCH, ignore_conflicts=True)
        announce_customers_changed(sorted({milestone.customer_id for milestone in create}))
    return new
