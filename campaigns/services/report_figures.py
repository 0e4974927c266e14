"""The nightly job of the reports: write each report's figures for every day that can be written
(and those of the figure sets kept for other pages: the cadence page's journey map).

For each report with daily figures, the days from NURTURE_REPORT_BACKFILL_DAYS ago (or, for a report of a state,
only the latest day) to the last day that can be written (yesterday for events, today's start for
a state, N days ago for the retention report) are written if they are not yet. Each day is one
transaction that claims it by inserting its ReportDay row (unique per report and day) and writes
its figures: a day is written once, whatever runs twice, overlaps or crashes half-way, and a
written day never changes, so a past month's figures never move. A figure set that keeps only its
latest days (keep_days) has its older days deleted after the night's day is written.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import DailyFigure, ReportDay
from campaigns.selectors.reports import daily_figures
from campaigns.selectors.reports.base import DailyFigures, FigureSet

log = logging.getLogger(__name__)


def _days_to_write(definition: DailyFigures, today: dt.date) -> list[dt.date]:
    last = today - dt.timedelta(days=definition.settle_days())
    # On its first run (or after a long stop) the job writes at most this many days back.
    backfill_days = int(settings.NURTURE_REPORT_BACKFILL_DAYS)
    if definition.backfill_days is not None:
        backfill_days = min(backfill_days, definition.backfill_days)
    first = last - dt.timedelta(days=backfill_days - 1) if definition.backfill else last
    written = set(
        ReportDay.objects.of(definition.name).filter(day__gte=first, day__lte=last).values_list("day", flat=True)
    )
    return [
        first + dt.timedelta(days=n)
        for n in range((last - first).days + 1)
        if first + dt.timedelta(days=n) not in written
    ]


def _mark_empty_days(definition: DailyFigures, days: list[dt.date]) -> list[dt.date]:
    """Write the days before the report's first day with data as empty, all at once; returns the
    days that remain to be computed."""
    if definition.first_day is None or not days:
        return days
    first = definition.first_day()
    empty = [day for day in days if first is None or day < first]
    ReportDay.objects.bulk_create(
        [ReportDay(report=definition.name, day=day) for day in empty], batch_size=1000, ignore_conflicts=True
    )
    return [day for day in days if first is not None and day >= first]


def report_day_record(*, definition: DailyFigures, day: dt.date) -> bool:
    """Write one report's figures of one day; False when they were written already."""
    if definition.figures_for_day is None:
        return False
    try:
        with transaction.atomic():
            ReportDay.objects.create(report=definition.name, day=day)
            figures = definition.figures_for_day(day)
            DailyFigure.objects.bulk_create(
                [
                    DailyFigure(
                        report=definition.name, day=day, manager_id=f.manager_id, kind=f.kind, key=f.key, value=f.value
                    )
                    for f in figures
                    if f.value
                ],
                batch_size=2000,
            )
    except IntegrityError:
        # Another run claimed the day first (the unique ReportDay): its figures stand.
        return False
    return True


def figure_set_prune(*, definition: FigureSet, before: dt.date) -> int:
    """Delete a figure set's days before `before` (figures and claims together); returns the days deleted."""
    with transaction.atomic():
        DailyFigure.objects.filter(report=definition.name, day__lt=before).delete()
        deleted, _ = ReportDay.objects.of(definition.name).filter(day__lt=before).delete()
    return deleted


def report_figures_record(*, today: dt.date | None = None) -> dict[str, int]:
    """Write every report's (and figure set's) missing days; returns the days written per name."""
    today = today or timezone.localdate()
    written: dict[str, int] = {}
    for name, definition in daily_figures().items():
        if definition.figures_for_day is None:
            continue
        days = _mark_empty_days(definition, _days_to_write(definition, today))
        written[name] = sum(report_day_record(definition=definition, day=day) for day in days)
        if isinstance(definition, FigureSet) and definition.keep_days is not None:
            figure_set_prune(definition=definition, before=today - dt.timedelta(days=definition.keep_days - 1))
        if written[name]:
            log.info("report figures: %s, %d day(s) written", name, written[name])
    return written
