"""The health report: customers per band per account manager, and the movement between bands.

It reads the health score's own stored history (docs/health.md), never the live facts: the bands
come from the daily snapshots (HealthSnapshot) of the last day of the period that has any, and the
movement from the band changes (HealthBandChange) of the period. Both are written once per customer
and day by the nightly scoring, so a past period's figures never move. The counts per band come
from the totals the scoring stores when a day's run is over (DailyFigure), not from counting the
snapshots, except for a day still being scored. Customers count for their account manager.

The exports give one record per customer scored on that day: external ID, score, band and the
measures (name, points, reason).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from django.db.models import Count, QuerySet, Sum

from campaigns.charts import Chart, Series
from campaigns.models import DailyFigure, HealthBandChange, HealthMeasure, HealthSnapshot, ReportDay
from campaigns.scoring.combine import BANDS, stored_lines
from campaigns.selectors.reports.base import (
    Cell,
    Figure,
    Report,
    ReportDefinition,
    ReportFilters,
    Table,
    manager_labels,
)

NAME = "health"
# The day's band changes per account manager ("red>yellow": changes), stored with the band totals
# when a day's run is over; not a report of its own.
MOVES = "health-moves"
NOT_SCORED = "not_scored"
# The columns of the first table, worst band first.
BAND_ORDER = ("red", "yellow", "green")
MOVE_BANDS = tuple(band for band in BAND_ORDER if band in BANDS)
COLUMNS = (*((band, band.capitalize()) for band in MOVE_BANDS), (NOT_SCORED, "Not scored"))
MANAGER = "customer__account_manager_id"


def _scoped(rows: QuerySet[Any], filters: ReportFilters) -> QuerySet[Any]:
    """The rows of the customers whose figures the filters cover (None: everyone's)."""
    if filters.manager_ids is None:
        return rows
    return rows.filter(**{f"{MANAGER}__in": list(filters.manager_ids)})


def band_day(filters: ReportFilters) -> dt.date | None:
    """The last day of the period with snapshots (through the unique index on date and customer)."""
    return (
        HealthSnapshot.objects.filter(date__gte=filters.start, date__lte=filters.end)
        .order_by("-date")
        .values_list("date", flat=True)
        .first()
    )


def band_figures(day: dt.date) -> list[Figure]:
    """Everyone's customers per band and account manager on `day`, counted from the snapshots: what
    the nightly scoring stores when its run of the day is over (services/health.py)."""
    rows = HealthSnapshot.objects.filter(date=day).values_list(MANAGER, "band").annotate(customers=Count("id"))
    totals: dict[tuple[int, str], int] = {}
    for manager, band, customers in rows.order_by():
        key = (manager or 0, band if band in MOVE_BANDS else NOT_SCORED)
        totals[key] = totals.get(key, 0) + customers
    return [Figure(manager_id=m, kind="", key=key, value=value) for (m, key), value in totals.items()]


def bands_per_manager(filters: ReportFilters, day: dt.date | None) -> dict[int, dict[str, int]]:
    """{manager id (0: none): {band or "not_scored": customers}} on `day`; a customer scored with
    no measure that had data has no band and counts as not scored. A day whose run is over reads
    the few totals the run stored; a day still being scored (or scored before they were stored)
    counts its snapshots."""
    counts: dict[int, dict[str, int]] = {m.id: dict.fromkeys(dict(COLUMNS), 0) for m in filters.managers}
    if day is None:
        return counts
    rows: list[tuple[int, str, int]]
    if ReportDay.objects.of(NAME).filter(day=day).exists():
        stored = DailyFigure.objects.filter(report=NAME, day=day).for_managers(filters.manager_ids)
        rows = [(m, key, int(value)) for m, key, value in stored.values_list("manager_id", "key", "value")]
    else:
        live = (
            _scoped(HealthSnapshot.objects.filter(date=day), filters)
            .values_list(MANAGER, "band")
            .annotate(customers=Count("id"))
            .order_by()
        )
        rows = [(manager or 0, band if band in MOVE_BANDS else NOT_SCORED, n) for manager, band, n in live]
    for manager, key, customers in rows:
        counts.setdefault(manager, dict.fromkeys(dict(COLUMNS), 0))[key] += customers
    return counts


def move_figures(day: dt.date) -> list[Figure]:
    """Everyone's band changes of `day` per account manager and (from, to): what the nightly
    scoring stores with the band totals, so that the report sums a few rows a day."""
    rows = (
        HealthBandChange.objects.filter(date=day)
        .values_list(MANAGER, "from_band", "to_band")
        .annotate(changes=Count("id"))
        .order_by()
    )
    totals: dict[tuple[int, str], int] = {}
    for manager, from_band, to_band, changes in rows:
        key = (manager or 0, f"{from_band}>{to_band}")
        totals[key] = totals.get(key, 0) + changes
    return [Figure(manager_id=m, kind="", key=key, value=value) for (m, key), value in totals.items()]


def movement(filters: ReportFilters) -> dict[tuple[str, str], int]:
    """{(from band, to band): changes} over the period: the stored totals of the days whose run is
    over, and the band change rows of the others (a day still being scored)."""
    stored_days = set(
        ReportDay.objects.of(MOVES).filter(day__gte=filters.start, day__lte=filters.end).values_list("day", flat=True)
    )
    # The days not stored, named one by one: the band changes are read through the index on date
    # for those days only (usually today's, while it is being scored, or none).
    days = (filters.end - filters.start).days + 1
    unstored = [
        day for day in (filters.start + dt.timedelta(days=n) for n in range(max(days, 0))) if day not in stored_days
    ]
    totals: dict[tuple[str, str], int] = {}
    stored = (
        DailyFigure.objects.of(MOVES, filters.start, filters.end)
        .for_managers(filters.manager_ids)
        .values_list("key")
        .annotate(total=Sum("value"))
        .order_by()
    )
    for key, total in stored:
        from_band, _, to_band = key.partition(">")
        totals[(from_band, to_band)] = totals.get((from_band, to_band), 0) + int(total)
    if not unstored:
        return totals
    live = (
        _scoped(HealthBandChange.objects.filter(date__in=unstored), filters)
        .values_list("from_band", "to_band")
        .annotate(changes=Count("id"))
        .order_by()
    )
    for from_band, to_band, changes in live:
        totals[(from_band, to_band)] = totals.get((from_band, to_band), 0) + changes
    return totals


def customer_records(filters: ReportFilters, day: dt.date | None) -> list[dict[str, Any]]:
    """One record per customer scored on `day`: external ID, score, band and each measure's name,
    points and reason, from the day's snapshots (days scored before the snapshots kept the reasons
    have empty reasons)."""
    if day is None:
        return []
    names = dict(HealthMeasure.objects.values_list("id", "name"))
    snapshots = (
        _scoped(HealthSnapshot.objects.filter(date=day), filters)
        .order_by("customer__external_id")
        .values_list("customer__external_id", "score", "band", "details")
    )
    return [
        {
            "customer": external_id,
            "score": score,
            "band": band,
            "measures": [
                {"name": line.name, "points": line.points, "reason": line.reason}
                for line in stored_lines(details or [], names)
            ],
        }
        for external_id, score, band, details in snapshots.iterator(chunk_size=2000)
    ]


def build(filters: ReportFilters) -> Report:
    # The health score is about customers, not milestones: the kind filter does not apply.
    kind_note = ["Health counts customers, not milestones: the milestone kind filter does not apply."]
    kind_notes = kind_note if filters.kind else []
    filters = replace(filters, kind="") if filters.kind else filters
    day = band_day(filters)
    keys = [key for key, _ in COLUMNS]
    by_manager = bands_per_manager(filters, day)
    labels = manager_labels(by_manager)
    rows: list[tuple[Cell, ...]] = sorted(
        ((labels[m], *(counts[k] for k in keys)) for m, counts in by_manager.items()),
        key=lambda row: str(row[0]).lower(),
    )
    moves = movement(filters)
    move_rows: list[tuple[Cell, ...]] = [
        (from_band, to_band, moves.get((from_band, to_band), 0))
        for from_band in MOVE_BANDS
        for to_band in MOVE_BANDS
        if from_band != to_band
    ]
    notes = [
        f"Bands as scored on {day.isoformat()}; movement between bands from {filters.start.isoformat()} to "
        f"{filters.end.isoformat()}."
        if day
        else "No customer was scored in this period: run `python manage.py score_health` or wait for the nightly "
        "scoring.",
        *kind_notes,
    ]
    return Report(
        name=NAME,
        title=DEFINITION.title,
        description=DEFINITION.description,
        filters=filters,
        tables=[
            Table("Customers per band, by account manager", [("manager", "Account manager"), *COLUMNS], rows),
            Table(
                "Movement between bands in the period",
                [("from_band", "From band"), ("to_band", "To band"), ("changes", "Changes")],
                move_rows,
                note="A customer's first score is not a change; a customer who moves twice counts twice.",
            ),
        ],
        chart=Chart(
            kind="stacked",
            title="Customers per band",
            x_labels=[str(row[0]) for row in rows],
            series=[Series(label, [float(row[1 + i] or 0) for row in rows]) for i, (_, label) in enumerate(COLUMNS)],
            y_title="Customers",
        ),
        notes=notes,
        export_records=lambda: customer_records(filters, day),
    )


DEFINITION = ReportDefinition(
    name=NAME,
    title="Health",
    description="Customers per health band (red, yellow, green, not scored) per account manager on the last day "
    "of the period that was scored, and how many moved between bands in the period.",
    build=build,
)
