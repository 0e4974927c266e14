"""Customers and their milestones from CSV: all rows or none.

Every row is checked before anything is written; a file with any bad row imports nothing and
reports every bad row with the reason. Re-importing the same file changes nothing (rows are
compared with what is stored, and unchanged customers keep their updated_at, so the planner
does not re-plan them).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from nurture.lib.address import ADDRESS_FIELDS
from nurture.lib.calendar import UnknownRegion, UnknownTimeZone, validate_country_region, validate_time_zone
from nurture.models import Customer, Milestone, MilestoneKind, Tag
from nurture.selectors.customer_export import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from nurture.signals import announce_customers_changed, bulk_changes

# The customer fields an import sets (tags, account manager and milestones are handled apart).
PLAIN_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "email",
    "phone",
    *ADDRESS_FIELDS,
    "time_zone",
    "status",
)
MAX_LENGTHS: dict[str, int] = {
    name: getattr(Customer._meta.get_field(name), "max_length", None) or 10**6
    for name in ("external_id", *PLAIN_FIELDS)
}
STATUSES = {value for value, _ in Customer.Status.choices}
BATCH = 1000


@dataclass(frozen=True, order=True)
class RowError:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "header"
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class ImportFailed(ValueError):
    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = sorted(errors)
        super().__init__(f"{len(self.errors)} problem(s); nothing was imported")


@dataclass
class ParsedRow:
    line: int
    external_id: str
    values: dict[str, str]
    account_manager_id: int | None
    tags: frozenset[str]
    milestones: dict[int, dt.date]


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    milestones_created: int = 0
    milestones_updated: int = 0
    tags_created: list[str] = field(default_factory=list)
    dry_run: bool = False
    changed_customer_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        text = (
            f"{self.rows} rows {verb}: {self.created} customers created, {self.updated} updated, "
            f"{self.unchanged} unchanged; {self.milestones_created} milestones created, "
            f"{self.milestones_updated} moved"
        )
        if self.tags_created:
            text += f"; new tags: {', '.join(self.tags_created)}"
        return text + "."


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([RowError(0, "", f"the file is not UTF-8 text (byte {exc.start})")]) from None


def parse(text: str) -> list[ParsedRow]:
    """Read and check every row. Raises ImportFailed listing every problem."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFailed([RowError(0, "", "the file is empty")]) from None
    except csv.Error as exc:
        raise ImportFailed([RowError(1, "", f"not a CSV file: {exc}")]) from None
    columns = [name.strip().lower() for name in header]
    kinds = dict(MilestoneKind.objects.values_list("slug", "id"))
    errors = _check_header(columns, kinds)
    if errors:
        raise ImportFailed(errors)
    managers = {u.get_username(): u.pk for u in get_user_model().objects.filter(is_active=True)}
    rows: list[ParsedRow] = []
    first_line: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                errors.append(RowError(line, "", f"{len(cells)} fields, but the header has {len(columns)}"))
                continue
            raw = {name: cell.strip() for name, cell in zip(columns, cells, strict=True)}
            external_id = raw.get("external_id", "")
            if external_id and external_id in first_line:
                errors.append(
                    RowError(
                        line,
                        "external_id",
                        f"duplicate external_id {external_id!r} (first on line {first_line[external_id]})",
                    )
                )
                continue
            first_line.setdefault(external_id, line)
            row = _parse_row(line, raw, kinds, managers, errors)
            if row is None:
                continue
            rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, "", f"not valid CSV: {exc}"))
    if errors:
        raise ImportFailed(errors)
    return rows


def _check_header(columns: list[str], kinds: dict[str, int]) -> list[RowError]:
    errors = [RowError(0, name, "required column is missing") for name in REQUIRED_COLUMNS if name not in columns]
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            errors.append(RowError(0, name, "column appears twice"))
        seen.add(name)
        if name not in REQUIRED_COLUMNS and name not in OPTIONAL_COLUMNS and name not in kinds:
            errors.append(RowError(0, name, "unknown column: neither a customer field nor a milestone kind's slug"))
    return errors


def _parse_row(
    line: int,
    raw: dict[str, str],
    kinds: dict[str, int],
    managers: dict[str, int],
    errors: list[RowError],
) -> ParsedRow | None:
    before = len(errors)
    error = partial(_add_error, errors, line)
    for name in REQUIRED_COLUMNS:
        if not raw.get(name):
            error(name, "is required")
    values = {name: raw[name] for name in PLAIN_FIELDS if name in raw}
    values["country"] = values.get("country", "").upper()
    values["region"] = values.get("region", "").upper()
    values["status"] = values.get("status", "").lower() or Customer.Status.ACTIVE
    values["time_zone"] = values.get("time_zone", "") or "UTC"
    for name, value in [("external_id", raw.get("external_id", "")), *values.items()]:
        limit = MAX_LENGTHS.get(name)
        if limit is not None and len(value) > limit:
            error(name, f"is {len(value)} characters long; at most {limit}")
    if values.get("email"):
        try:
            validate_email(values["email"])
        except ValidationError:
            error("email", f"{values['email']!r} is not an e-mail address")
    try:
        validate_time_zone(values["time_zone"])
    except UnknownTimeZone as exc:
        error("time_zone", str(exc))
    try:
        validate_country_region(values["country"], values["region"])
    except UnknownRegion as exc:
        error("region" if values["region"] and "region" in str(exc).lower() else "country", str(exc))
    if values["status"] not in STATUSES:
        error("status", f"unknown status {values['status']!r}; use one of {', '.join(sorted(STATUSES))}")
    manager_id: int | None = None
    if raw.get("account_manager"):
        manager_id = managers.get(raw["account_manager"])
        if manager_id is None:
            error("account_manager", f"no active user {raw['account_manager']!r}")
    tags = frozenset(
        slugify(part) for part in raw.get("tags", "").replace(";", ",").replace("|", ",").split(",") if part.strip()
    )
    milestones: dict[int, dt.date] = {}
    for slug, kind_id in kinds.items():
        if raw.get(slug):
            try:
                milestones[kind_id] = dt.date.fromisoformat(raw[slug])
            except ValueError:
                error(slug, f"{raw[slug]!r} is not a date (YYYY-MM-DD)")
    if len(errors) > before:
        return None
    return ParsedRow(line, raw["external_id"], values, manager_id, tags, milestones)


def _add_error(errors: list[RowError], line: int, column: str, message: str) -> None:
    errors.append(RowError(line, column, message))


def import_customers(*, data: bytes, dry_run: bool = False) -> ImportResult:
    """Import a CSV file, or with dry_run say what it would do. All rows or none."""
    rows = parse(decode(data))
    result = ImportResult(rows=len(rows), dry_run=dry_run)
    with transaction.atomic(), bulk_changes():
        _apply(rows, result)
        if dry_run:
            transaction.set_rollback(True)
    if not dry_run and result.changed_customer_ids:
        announce_customers_changed(result.changed_customer_ids)
    return result


def _apply(rows: list[ParsedRow], result: ImportResult) -> None:
    now = timezone.now()
    existing = _existing_customers([row.external_id for row in rows])
    new_rows = [row for row in rows if row.external_id not in existing]
    Customer.objects.bulk_create(
        [
            Customer(external_id=row.external_id, account_manager_id=row.account_manager_id, **row.values)
            for row in new_rows
        ],
        batch_size=BATCH,
    )
    existing.update(_existing_customers([row.external_id for row in new_rows]))
    new_ids = {existing[row.external_id].pk for row in new_rows}
    to_update = [
        existing[row.external_id]
        for row in rows
        if existing[row.external_id].pk not in new_ids and _set_values(existing[row.external_id], row)
    ]
    for customer in to_update:
        customer.updated_at = now
    Customer.objects.bulk_update(to_update, [*PLAIN_FIELDS, "account_manager", "updated_at"], batch_size=BATCH)
    changed = (
        {c.pk for c in to_update} | _apply_tags(rows, existing, result) | _apply_milestones(rows, existing, result)
    )
    # Tag and milestone changes bump updated_at too: the planner re-plans changed customers.
    touched = sorted(changed - new_ids - {c.pk for c in to_update})
    for start in range(0, len(touched), BATCH):
        Customer.objects.filter(pk__in=touched[start : start + BATCH]).update(updated_at=now)
    result.created = len(new_ids)
    result.updated = len(changed - new_ids)
    result.unchanged = len(rows) - result.created - result.updated
    result.changed_customer_ids = sorted(changed | new_ids)


def _existing_customers(external_ids: Iterable[str]) -> dict[str, Customer]:
    ids = list(external_ids)
    found: dict[str, Customer] = {}
    for start in range(0, len(ids), BATCH):
        for customer in Customer.objects.filter(external_id__in=ids[start : start + BATCH]):
            found[customer.external_id] = customer
    return found


def _set_values(customer: Customer, row: ParsedRow) -> bool:
    changed = False
    for name, value in row.values.items():
        if getattr(customer, name) != value:
            setattr(customer, name, value)
            changed = True
    if customer.account_manager_id != row.account_manager_id:
        customer.account_manager_id = row.account_manager_id
        changed = True
    return changed


def _apply_tags(rows: list[ParsedRow], customers: dict[str, Customer], result: ImportResult) -> set[int]:
    wanted = {slug for row in rows for slug in row.tags}
    tags = dict(Tag.objects.filter(slug__in=wanted).values_list("slug", "id"))
    missing = sorted(wanted - set(tags))
    if missing:
        Tag.objects.bulk_create([Tag(slug=slug, name=slug.replace("-", " ").title()) for slug in missing])
        tags.update(Tag.objects.filter(slug__in=missing).values_list("slug", "id"))
        result.tags_created = missing
    through = Customer.tags.through
    ids = [customers[row.external_id].pk for row in rows]
    current: dict[int, set[int]] = {}
    for start in range(0, len(ids), BATCH):
        for customer_id, tag_id in through.objects.filter(customer_id__in=ids[start : start + BATCH]).values_list(
            "customer_id", "tag_id"
        ):
            current.setdefault(customer_id, set()).add(tag_id)
    changed: set[int] = set()
    add: list[Any] = []
    for row in rows:
        pk = customers[row.external_id].pk
        want = {tags[slug] for slug in row.tags}
        have = current.get(pk, set())
        if want != have:
            changed.add(pk)
            add.extend(through(customer_id=pk, tag_id=tag_id) for tag_id in want - have)
            if have - want:
                through.objects.filter(customer_id=pk, tag_id__in=have - want).delete()
    through.objects.bulk_create(add, batch_size=BATCH)
    return changed


def _apply_milestones(rows: list[ParsedRow], customers: dict[str, Customer], result: ImportResult) -> set[int]:
    ids = [customers[row.external_id].pk for row in rows]
    current: dict[tuple[int, int], list[Milestone]] = {}
    for start in range(0, len(ids), BATCH):
        for milestone in Milestone.objects.filter(customer_id__in=ids[start : start + BATCH]):
            current.setdefault((milestone.customer_id, milestone.kind_id), []).append(milestone)
    create: list[Milestone] = []
    move: list[Milestone] = []
    changed: set[int] = set()
    for row in rows:
        pk = customers[row.external_id].pk
        for kind_id, day in row.milestones.items():
            have = current.get((pk, kind_id), [])
            if any(m.date == day for m in have):
                continue
            changed.add(pk)
            if len(have) == 1:
                have[0].date = day
                move.append(have[0])
            else:
                create.append(Milestone(customer_id=pk, kind_id=kind_id, date=day))
    Milestone.objects.bulk_create(create, batch_size=BATCH)
    now = timezone.now()
    for milestone in move:
        milestone.updated_at = now
    Milestone.objects.bulk_update(move, ["date", "updated_at"], batch_size=BATCH)
    result.milestones_created = len(create)
    result.milestones_updated = len(move)
    return changed
