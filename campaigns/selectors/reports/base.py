"""What every report shares: its filters and who may see what, its result, and the daily figures.

A report is one module of this package with a `DEFINITION` (registered in `__init__.py`): a
`build(filters)` that returns a `Report` (tables, a chart with the numbers of the first table,
records for the CSV and JSON exports), and, when the report reads daily figures, a
`figures_for_day(day)` that computes one day's figures from the live tables. The nightly job
(campaigns/services/report_figures.py) stores those for every closed day; a report reads stored
days and computes only today (and a day the job has not reached yet) live.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import timezone

from campaigns.charts import Chart
from campaigns.models import Cadence, DailyFigure, ReportDay
from nurture.models import MilestoneKind, StaffProfile
from nurture.querysets import sees_all_customers

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

Cell = str | int | float | None

# The longest period a report covers: two years of daily figures stay a few thousand rows.
MAX_PERIOD_DAYS = 731
# Days the job has not written yet that a report computes live (today, and yesterday before the
# night's run); older missing days are reported as missing, never scanned from the live tables.
LIVE_DAYS = 2


class ReportError(ValueError):
    """A filter a report cannot use; the message says which and why."""


@dataclass(frozen=True)
class Manager:
    id: int
    username: str
    name: str

    @property
    def label(self) -> str:
        return self.name or self.username


@dataclass(frozen=True)
class ReportFilters:
    """The period (whole days, both included), whose figures (manager ids; None for everyone) and
    which milestone kind (a slug; empty for all)."""

    start: dt.date
    end: dt.date
    today: dt.date
    manager_ids: frozenset[int] | None = None
    kind: str = ""
    managers: tuple[Manager, ...] = ()
    # One cadence (its id) for the reports that take one (the stages report); None for all.
    cadence_id: int | None = None
    # Whoever asked, for the record ("everyone" for the command line).
    scope_label: str = "everyone"

    @property
    def recorded_end(self) -> dt.date:
        """The last day of the period the nightly job may have written (days before today)."""
        return min(self.end, self.today - dt.timedelta(days=1))

    def months(self) -> list[dt.date]:
        first = self.start.replace(day=1)
        months = []
        while first <= self.end:
            months.append(first)
            first = (first + dt.timedelta(days=32)).replace(day=1)
        return months


@dataclass(frozen=True)
class Table:
    title: str
    # (key, label): the key names the field in the exports, the label heads the column.
    columns: Sequence[tuple[str, str]]
    rows: list[tuple[Cell, ...]]
    note: str = ""

    def records(self) -> list[dict[str, Cell]]:
        keys = [key for key, _ in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    filters: ReportFilters
    # The first table holds the chart's numbers; the others add detail (per batch, a list).
    tables: list[Table]
    chart: Chart | None = None
    notes: list[str] = field(default_factory=list)
    # One record per line of the CSV and JSON exports; the first table's rows unless given. A
    # callable is called only by an export (the health report's one record per customer), never
    # by the page, the chart or the monthly pack.
    export_records: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]] | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        if callable(self.export_records):
            return self.export_records()
        if self.export_records is not None:
            return self.export_records
        return list(self.tables[0].records()) if self.tables else []


def flat_records(records: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """The records for CSV: a list or mapping (the health report's measures) becomes one cell
    holding it as JSON."""
    for record in records:
        yield {
            key: json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
            for key, value in record.items()
        }


@dataclass(frozen=True)
class Figure:
    """One figure of one day, before it is stored (see DailyFigure)."""

    manager_id: int
    kind: str
    key: str
    value: int


@dataclass(frozen=True)
class ReportDefinition:
    name: str
    title: str
    description: str
    build: Callable[[ReportFilters], Report]
    # One day's figures from the live tables; None for a report with no daily figures of its own.
    figures_for_day: Callable[[dt.date], list[Figure]] | None = None
    # How many days after a day its figures can be written (the retention report waits for the
    # outcome of a renewal); 1 for the others, whose day is written once it is over.
    settle_days: Callable[[], int] = lambda: 1
    # The first day with anything to count (None: nothing yet); the job writes the days before it as
    # empty in one statement instead of asking the live tables about each.
    first_day: Callable[[], dt.date | None] | None = None
    # Whether the job writes days before its first run (from the history of the live tables),
    # or only the day just closed (a report of a state, like the open workload, has no history).
    backfill: bool = True
    # At most this many days back on the first run, when fewer than NURTURE_REPORT_BACKFILL_DAYS
    # (a report whose day costs a pass over every customer); None: the setting alone.
    backfill_days: int | None = None
    # Whether the page offers the Cadence filter (the stages report); the others ignore it.
    cadence_filter: bool = False


@dataclass(frozen=True)
class FigureSet:
    """Daily figures the nightly job keeps for a page that is not a report (the cadence page's
    journey map): written like a report's (one claimed ReportDay per day, DailyFigure rows under
    `name`), listed on no Reports page, in no pack and no export."""

    name: str
    figures_for_day: Callable[[dt.date], list[Figure]]
    settle_days: Callable[[], int] = lambda: 1
    first_day: Callable[[], dt.date | None] | None = None
    backfill: bool = True
    backfill_days: int | None = None
    # The job deletes the days older than this many days back (None: keeps them all): a page that
    # reads only the latest day needs no history.
    keep_days: int | None = None


# What the nightly job writes: a report's figures, or a figure set's.
DailyFigures = ReportDefinition | FigureSet


# --- Who sees what -------------------------------------------------------------------------------


def _manager(user: Any) -> Manager:
    return Manager(id=user.pk, username=user.get_username(), name=user.get_full_name())


def visible_managers(viewer: AbstractBaseUser | AnonymousUser | None) -> list[Manager] | None:
    """The account managers whose figures `viewer` may see; None for everyone (administrators,
    anyone granted "view all customers", and the command line). A lead sees their team (the staff
    whose profile names them as lead) and themselves; an account manager only themselves."""
    if viewer is None or sees_all_customers(viewer):
        return None
    if not viewer.is_authenticated:
        return []
    team = get_user_model().objects.filter(pk__in=StaffProfile.objects.filter(lead_id=viewer.pk).values("user_id"))
    return [_manager(viewer), *sorted((_manager(u) for u in team), key=lambda m: m.label.lower())]


def manager_choices(viewer: AbstractBaseUser | AnonymousUser | None) -> list[Manager]:
    """The managers a viewer may filter by: only those they may see."""
    visible = visible_managers(viewer)
    if visible is not None:
        return visible
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
    return [_manager(user) for user in staff]


def resolve_filters(
    *,
    viewer: AbstractBaseUser | AnonymousUser | None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    manager: str = "",
    kind: str = "",
    cadence: str = "",
    today: dt.date | None = None,
) -> ReportFilters:
    """The filters of a request or a command, checked: a bad one raises ReportError naming it."""
    today = today or timezone.localdate()
    end = end or today
    # By default the six months up to the end: this month and the five before it.
    start = start or months_before(end, 5)
    if start > end:
        raise ReportError(f"The period starts ({start.isoformat()}) after it ends ({end.isoformat()}).")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ReportError(f"The period covers {(end - start).days + 1} days; at most {MAX_PERIOD_DAYS}.")
    if kind and not MilestoneKind.objects.filter(slug=kind).exists():
        raise ReportError(f"There is no milestone kind {kind!r}.")
    cadence_id = _cadence_id(cadence)
    visible = visible_managers(viewer)
    manager_ids = None if visible is None else frozenset(m.id for m in visible)
    if manager:
        chosen = next((m for m in manager_choices(viewer) if m.username == manager), None)
        if chosen is None:
            raise ReportError(f"There is no account manager {manager!r} among those whose figures you may see.")
        manager_ids = frozenset({chosen.id})
    names = {m.id: m for m in (visible if visible is not None else [])}
    if manager_ids is not None:
        missing = manager_ids - names.keys()
        names.update({u.pk: _manager(u) for u in get_user_model().objects.filter(pk__in=missing)})
    label = "everyone" if manager_ids is None else ", ".join(sorted(names[i].label for i in manager_ids if i in names))
    return ReportFilters(
        start=start,
        end=end,
        today=today,
        manager_ids=manager_ids,
        kind=kind,
        managers=tuple(names[i] for i in sorted(manager_ids or ()) if i in names),
        scope_label=label,
        cadence_id=cadence_id,
    )


def _cadence_id(cadence: str) -> int | None:
    """A cadence given by its id (the page) or its name (the command line); "" for all of them."""
    cadence = cadence.strip()
    if not cadence:
        return None
    pk = Cadence.objects.filter(name=cadence).values_list("pk", flat=True).first()
    if pk is None and cadence.isdigit() and len(cadence) < 10:
        pk = Cadence.objects.filter(pk=int(cadence)).values_list("pk", flat=True).first()
    if pk is None:
        raise ReportError(f"There is no cadence {cadence!r}.")
    return int(pk)


def manager_labels(ids: Iterable[int]) -> dict[int, str]:
    """Display names of account managers by id (0: no account manager; a deleted user by number)."""
    wanted = set(ids)
    users = get_user_model().objects.filter(pk__in=wanted - {0})
    labels = {u.pk: (u.get_full_name() or u.get_username()) for u in users}
    return {i: ("(no account manager)" if i == 0 else labels.get(i, f"(deleted user {i})")) for i in wanted}


# --- Days and months -----------------------------------------------------------------------------


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The start of `day` and of the next day in the site's time zone (settings.TIME_ZONE)."""
    zone = timezone.get_default_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)


def months_before(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` months before `day`'s month."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, 1)


def local_date(moment: dt.datetime | None) -> dt.date | None:
    """The date of a moment in the site's time zone (settings.TIME_ZONE)."""
    return None if moment is None else timezone.localtime(moment).date()


def month_label(month: dt.date) -> str:
    return month.strftime("%b %Y")


def business_days_setting() -> int:
    return int(settings.NURTURE_REPORT_ON_TIME_BUSINESS_DAYS)


# --- Reading the daily figures -------------------------------------------------------------------


@dataclass
class FigureTotals:
    """Figures summed over a period: by (month, key), by (manager, key) and by key."""

    by_month: dict[tuple[dt.date, str], int] = field(default_factory=lambda: defaultdict(int))
    by_manager: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    by_key: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Closed days of the period with no stored figures and too old to compute live.
    missing_days: list[dt.date] = field(default_factory=list)

    def add(self, day: dt.date, manager_id: int, key: str, value: int) -> None:
        month = day.replace(day=1)
        self.by_month[month, key] += value
        self.by_manager[manager_id, key] += value
        self.by_key[key] += value


def figure_totals(definition: ReportDefinition, filters: ReportFilters) -> FigureTotals:
    """The report's figures over the period: the stored days, and the live ones (today and a day
    the job has not written yet, at most LIVE_DAYS of them), filtered by manager and kind."""
    totals = FigureTotals()
    stored = (
        DailyFigure.objects.of(definition.name, filters.start, filters.end)
        .for_managers(filters.manager_ids)
        .for_kind(filters.kind)
        .values_list("day", "manager_id", "key")
        .annotate(total=Sum("value"))
        .order_by()
    )
    for day, manager_id, key, total in stored:
        totals.add(day, manager_id, key, int(total))
    recorded = set(
        ReportDay.objects.of(definition.name)
        .filter(day__gte=filters.start, day__lte=filters.end)
        .values_list("day", flat=True)
    )
    unrecorded = [
        filters.start + dt.timedelta(days=n)
        for n in range((filters.end - filters.start).days + 1)
        if filters.start + dt.timedelta(days=n) not in recorded
        and filters.start + dt.timedelta(days=n) <= filters.today
    ]
    live_from = filters.today - dt.timedelta(days=LIVE_DAYS - 1)
    for day in unrecorded:
        if day < live_from or definition.figures_for_day is None:
            totals.missing_days.append(day)
            continue
        for figure in definition.figures_for_day(day):
            if filters.manager_ids is not None and figure.manager_id not in filters.manager_ids:
                continue
            if filters.kind and figure.kind != filters.kind:
                continue
            totals.add(day, figure.manager_id, figure.key, figure.value)
    return totals


def snapshot(definition: ReportDefinition, filters: ReportFilters) -> tuple[dt.date | None, list[Figure]]:
    """A report of a state (the open workload, coverage): its figures on the last day of the period
    that has them, filtered by manager and kind. Today's, before the night's job wrote them, are
    computed live; a past period without a stored day has none."""
    day = (
        ReportDay.objects.of(definition.name)
        .filter(day__gte=filters.start, day__lte=filters.end)
        .order_by("-day")
        .values_list("day", flat=True)
        .first()
    )
    if filters.end >= filters.today and day != filters.today and definition.figures_for_day is not None:
        figures = definition.figures_for_day(filters.today)
        return filters.today, [
            f
            for f in figures
            if (filters.manager_ids is None or f.manager_id in filters.manager_ids)
            and (not filters.kind or f.kind == filters.kind)
        ]
    if day is None:
        return None, []
    stored = (
        DailyFigure.objects.filter(report=definition.name, day=day)
        .for_managers(filters.manager_ids)
        .for_kind(filters.kind)
        .values_list("manager_id", "kind", "key", "value")
    )
    return day, [Figure(manager_id=m, kind=k, key=key, value=int(v)) for m, k, key, v in stored]


def missing_note(missing: list[dt.date]) -> list[str]:
    if not missing:
        return []
    return [
        f"{len(missing)} day(s) of this period, {missing[0].isoformat()} to {missing[-1].isoformat()}, have no "
        "figures yet: the nightly job “Report figures” writes them (or run `python manage.py record_report_figures`)."
    ]


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
