"""Customers and their milestones from CSV: all rows or none.

Every row is checked before anything is written; a file with any bad row imports nothing and
reports every bad row with the reason. Re-importing the same file changes nothing (rows are
compared with what is stored, and unchanged customers keep their updated_at, so the planner
does not re-plan them).

A large file takes a while: ``import_customers`` reports its progress to a ``Progress`` (every
row while checking, every BATCH rows while writing), which the background import
(nurture.services.import_jobs) records on its ImportJob. The writing happens BATCH rows at a time,
all inside the one transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from nurture.lib.calendar import UnknownRegion, UnknownTimeZone, validate_country_region, validate_time_zone
from nurture.lib.csvsafe import restore
from nurture.models import Customer, Milestone, MilestoneKind, Referral, Tag
from nurture.models.customers import PLAIN_FIELDS
from nurture.selectors.customer_export import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from nurture.services.customers import InputError
from nurture.services.referrals import ReferralInput, referrals_create
from nurture.signals import announce_customers_changed, bulk_changes

MAX_LENGTHS: dict[str, int] = {
    name: getattr(Customer._meta.get_field(name), "max_length", None) or 10**6
    for name in ("external_id", *PLAIN_FIELDS)
}


# A tier is a slug, as Customer.tier (a SlugField) and a cadence's tier list take it.
TIER_RE = re.compile(r"^[-a-z0-9_]+$")


def status_key(text: str) -> str:
    """A status as people write it, reduced to compare: "Do not contact", "do-not-contact" and
    " DO_NOT_CONTACT " are all "do not contact"."""
    return " ".join(re.split(r"[\s_-]+", text.strip().lower())).strip()


# Each status by its value and by its label, as status_key() reduces them.
STATUSES: dict[str, str] = {
    status_key(name): str(value) for value, label in Customer.Status.choices for name in (value, str(label))
}
# How the error for an unknown status names the accepted ones: as people would write them.
STATUS_NAMES = ", ".join(str(label).lower() for _, label in Customer.Status.choices)
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
    referred_by: str = ""  # the referrer's external_id (a referral), or nothing


@dataclass(frozen=True)
class ChangedRow:
    """A row that creates or changes a customer, as the preview shows it."""

    line: int
    external_id: str
    name: str
    company: str
    action: str  # "new" or "update"
    milestones: list[tuple[str, str]]  # (kind's name, ISO date)


# The counts of an ImportResult, as an ImportJob stores them.
COUNTS = ("rows", "created", "updated", "unchanged", "milestones_created", "milestones_updated", "referrals_created")


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    milestones_created: int = 0
    milestones_updated: int = 0
    referrals_created: int = 0
    tags_created: list[str] = field(default_factory=list)
    dry_run: bool = False
    changed_customer_ids: list[int] = field(default_factory=list)
    # The first rows that change, in file order (as many as import_customers' preview_rows asks).
    changes: list[ChangedRow] = field(default_factory=list)

    @property
    def changing(self) -> int:
        return self.created + self.updated

    def counts(self) -> dict[str, Any]:
        """The counts as plain data (what an ImportJob stores); from_counts() reads them back."""
        return {
            **{name: getattr(self, name) for name in COUNTS},
            "tags_created": self.tags_created,
            "dry_run": self.dry_run,
        }

    @classmethod
    def from_counts(cls, counts: dict[str, Any]) -> ImportResult:
        result = cls(
            tags_created=[str(tag) for tag in counts.get("tags_created", [])],
            dry_run=bool(counts.get("dry_run", False)),
        )
        for name in COUNTS:
            setattr(result, name, int(counts.get(name, 0)))
        return result

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        text = (
            f"{self.rows} rows {verb}: {self.created} customers created, {self.updated} updated, "
            f"{self.unchanged} unchanged; {self.milestones_created} milestones created, "
            f"{self.milestones_updated} moved"
        )
        if self.referrals_created:
            text += f"; {self.referrals_created} referrals created"
        if self.tags_created:
            text += f"; new tags: {', '.join(self.tags_created)}"
        return text + "."


class Progress(Protocol):
    """Told what the import is doing: a step over `total` rows, then how many of them are done."""

    def step(self, name: str, total: int) -> None: ...

    def advance(self, done: int) -> None: ...


class NoProgress:
    def step(self, name: str, total: int) -> None:
        pass

    def advance(self, done: int) -> None:
        pass


def count_records(text: str) -> int:
    """The rows of a CSV text after its header (blank ones too), for a progress total."""
    try:
        return max(0, sum(1 for _ in csv.reader(io.StringIO(text))) - 1)
    except csv.Error:
        return 0  # parse() reports it


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([RowError(0, "", f"the file is not UTF-8 text (byte {exc.start})")]) from None


def parse(text: str, progress: Progress | None = None) -> list[ParsedRow]:
    """Read and check every row. Raises ImportFailed listing every problem."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFailed([RowError(0, "", "the file is empty")]) from None
    except csv.Error as exc:
        raise ImportFailed([RowError(1, "", f"not a CSV file: {exc}")]) from None
    # Our own export prefixes cells (and header cells) against formula injection: undone here, exactly.
    columns = [restore(name.strip()).lower() for name in header]
    kinds = dict(MilestoneKind.objects.values_list("slug", "id"))
    errors = _check_header(columns, kinds)
    if errors:
        raise ImportFailed(errors)
    managers = {u.get_username(): u.pk for u in get_user_model().objects.filter(is_active=True)}
    rows: list[ParsedRow] = []
    first_line: dict[str, int] = {}
    try:
        for done, cells in enumerate(reader, start=1):
            line = reader.line_num
            if progress is not None:
                progress.advance(done)
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                errors.append(RowError(line, "", f"{len(cells)} fields, but the header has {len(columns)}"))
                continue
            raw = {name: restore(cell.strip()) for name, cell in zip(columns, cells, strict=True)}
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
    status = values.get("status", "")
    values["status"] = STATUSES.get(status_key(status), status) if status else Customer.Status.ACTIVE
    values["time_zone"] = values.get("time_zone", "") or "UTC"
    if "tier" in values:
        values["tier"] = values["tier"].strip().lower()
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
    if values.get("tier") and not TIER_RE.match(values["tier"]):
        error("tier", f"{values['tier']!r} is not a tier: use letters, digits, - and _ only (e.g. gold, gold-plus)")
    if values["status"] not in STATUSES.values():
        error("status", f"unknown status {status!r}; use one of: {STATUS_NAMES} (in any case, with spaces, - or _)")
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
    referred_by = raw.get("referred_by", "")
    if referred_by and referred_by == raw.get("external_id"):
        error("referred_by", "a customer cannot refer themselves")
    if len(errors) > before:
        return None
    return ParsedRow(line, raw["external_id"], values, manager_id, tags, milestones, referred_by)


def _add_error(errors: list[RowError], line: int, column: str, message: str) -> None:
    errors.append(RowError(line, column, message))


def import_customers(
    *,
    data: bytes,
    dry_run: bool = False,
    progress: Progress | None = None,
    preview_rows: int = 0,
    before_commit: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Import a CSV file, or with dry_run say what it would do. All rows or none.

    progress hears of every step ("Checking every row", then writing), preview_rows asks for the
    first rows that change (ImportResult.changes). before_commit runs inside the import's
    transaction once every row is written: what it writes commits with the rows, and an exception
    it raises undoes them all. The rows are read and checked before the transaction begins.
    """
    progress = progress or NoProgress()
    text = decode(data)
    progress.step("Checking every row", count_records(text))
    rows = parse(text, progress)
    result = ImportResult(rows=len(rows), dry_run=dry_run)
    progress.step("Trying the import (nothing is kept)" if dry_run else "Writing every row", len(rows))
    kind_names = dict(MilestoneKind.objects.values_list("pk", "name")) if preview_rows else {}
    with transaction.atomic(), bulk_changes():
        _apply(rows, result, progress=progress, preview=_Preview(preview_rows, kind_names))
        if dry_run:
            transaction.set_rollback(True)
        elif before_commit is not None:
            before_commit(result)
    if not dry_run and result.changed_customer_ids:
        announce_customers_changed(result.changed_customer_ids)
    return result


@dataclass
class _Preview:
    """Collects the first `limit` rows that change, in file order."""

    limit: int
    kind_names: dict[int, str]

    def add(self, result: ImportResult, row: ParsedRow, action: str) -> None:
        if len(result.changes) >= self.limit:
            return
        result.changes.append(
            ChangedRow(
                line=row.line,
                external_id=row.external_id,
                name=f"{row.values.get('first_name', '')} {row.values.get('last_name', '')}".strip(),
                company=row.values.get("company", ""),
                action=action,
                milestones=[
                    (self.kind_names.get(kind, "?"), day.isoformat()) for kind, day in sorted(row.milestones.items())
                ],
            )
        )


def _apply(rows: list[ParsedRow], result: ImportResult, *, progress: Progress, preview: _Preview) -> None:
    """Write the rows BATCH at a time (inside the caller's transaction), telling progress after each."""
    now = timezone.now()
    tags = _ensure_tags(rows, result)
    new_ids: set[int] = set()
    changed: set[int] = set()
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        chunk_new, chunk_changed = _apply_chunk(chunk, result, tags=tags, now=now, preview=preview)
        new_ids |= chunk_new
        changed |= chunk_changed
        progress.advance(start + len(chunk))
    result.created = len(new_ids)
    result.updated = len(changed - new_ids)
    result.unchanged = len(rows) - result.created - result.updated
    result.changed_customer_ids = sorted(changed | new_ids)
    result.referrals_created = _apply_referrals(rows, new_ids, now=now)


# A referral's problems, named as the file's columns.
REFERRAL_COLUMNS = {
    "referrer": "referred_by",
    "referred": "referred_by",
    "referred.email": "email",
    "referred.phone": "phone",
}


def _apply_referrals(rows: list[ParsedRow], new_ids: set[int], *, now: dt.datetime) -> int:
    """The referrals of the rows with a referred_by (inside the import's transaction). The referrer
    is a customer of the file or one stored; a row whose customer existed before the import is not
    a new customer, so not a referral (unless it is the same referral again). Returns how many are new."""
    referring = [row for row in rows if row.referred_by]
    if not referring:
        return 0
    customers = _existing_customers(
        sorted({row.external_id for row in referring} | {row.referred_by for row in referring})
    )
    errors = [
        RowError(row.line, "referred_by", f"no customer {row.referred_by!r}, neither in the file nor stored")
        for row in referring
        if row.referred_by not in customers
    ]
    if errors:
        raise ImportFailed(errors)
    inputs = [
        ReferralInput(
            referrer=customers[row.referred_by],
            referred=customers[row.external_id],
            referred_is_new=customers[row.external_id].pk in new_ids,
        )
        for row in referring
    ]
    before = Referral.objects.filter(referred_id__in=[i.referred.pk for i in inputs]).count()
    try:
        referrals_create(rows=inputs, source=Referral.Source.IMPORT, names=REFERRAL_COLUMNS, now=now)
    except InputError as exc:
        raise ImportFailed([RowError(referring[p.index].line, p.field, p.message) for p in exc.problems]) from None
    return len(inputs) - before


def _apply_chunk(
    rows: list[ParsedRow], result: ImportResult, *, tags: dict[str, int], now: dt.datetime, preview: _Preview
) -> tuple[set[int], set[int]]:
    """Write some rows; returns the ids of the customers created and of those changed."""
    existing = _existing_customers([row.external_id for row in rows])
    new_rows = [row for row in rows if row.external_id not in existing]
    today = timezone.localdate(now)
    created = [
        Customer(external_id=row.external_id, account_manager_id=row.account_manager_id, **row.values)
        for row in new_rows
    ]
    for customer in created:
        customer.sync_churned_on(today)
    Customer.objects.bulk_create(created, batch_size=BATCH)
    existing.update(_existing_customers([row.external_id for row in new_rows]))
    new_ids = {existing[row.external_id].pk for row in new_rows}
    to_update = [
        existing[row.external_id]
        for row in rows
        if existing[row.external_id].pk not in new_ids and _set_values(existing[row.external_id], row)
    ]
    for customer in to_update:
        customer.updated_at = now
        customer.sync_churned_on(today)
    Customer.objects.bulk_update(
        to_update,
        [*PLAIN_FIELDS, "account_manager", "address_undeliverable_on", "churned_on", "updated_at"],
        batch_size=BATCH,
    )
    changed = {c.pk for c in to_update} | _apply_tags(rows, existing, tags) | _apply_milestones(rows, existing, result)
    # Tag and milestone changes bump updated_at too: the planner re-plans changed customers.
    touched = sorted(changed - new_ids - {c.pk for c in to_update})
    for start in range(0, len(touched), BATCH):
        Customer.objects.filter(pk__in=touched[start : start + BATCH]).update(updated_at=now)
    for row in rows:
        pk = existing[row.external_id].pk
        if pk in new_ids or pk in changed:
            preview.add(result, row, "new" if pk in new_ids else "update")
    return new_ids, changed


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
    # A new address in the file clears the flag a returned card set (as an edit in the admin does).
    customer.forget_undeliverable_if_moved()
    return changed


def _ensure_tags(rows: list[ParsedRow], result: ImportResult) -> dict[str, int]:
    """Every tag the file names, created when missing: {slug: id}."""
    wanted = {slug for row in rows for slug in row.tags}
    tags = dict(Tag.objects.filter(slug__in=wanted).values_list("slug", "id"))
    missing = sorted(wanted - set(tags))
    if missing:
        Tag.objects.bulk_create([Tag(slug=slug, name=slug.replace("-", " ").title()) for slug in missing])
        tags.update(Tag.objects.filter(slug__in=missing).values_list("slug", "id"))
        result.tags_created = missing
    return tags


def _apply_tags(rows: list[ParsedRow], customers: dict[str, Customer], tags: dict[str, int]) -> set[int]:
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
    result.milestones_created += len(create)
    result.milestones_updated += len(move)
    return changed
