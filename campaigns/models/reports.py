"""The reports' daily figures: what the nightly job wrote for each closed day (docs/reports.md).

A report for past days reads these rows, never the touchpoints and cards themselves, so a past
month's figures never move when today's data changes, and a page over months sums a few
thousand rows instead of millions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Self

from django.conf import settings
from django.db import models


class ReportDayQuerySet(models.QuerySet["ReportDay"]):
    def of(self, report: str) -> Self:
        return self.filter(report=report)


class ReportDay(models.Model):
    """One report's figures for one day are written: the nightly job's claim on that day."""

    report = models.CharField(max_length=30, help_text="The report's name, e.g. on-time.")
    day = models.DateField(help_text="The closed day the figures describe.")
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = ReportDayQuerySet.as_manager()

    class Meta:
        constraints = [
            # A day's figures are written once, whatever runs twice or overlaps: the job claims the
            # day by inserting this row in the transaction that writes the figures.
            models.UniqueConstraint(fields=["report", "day"], name="report_day_once"),
        ]

    def __str__(self) -> str:
        return f"{self.report} on {self.day.isoformat()}"


class DailyFigureQuerySet(models.QuerySet["DailyFigure"]):
    def of(self, report: str, start: dt.date, end: dt.date) -> Self:
        return self.filter(report=report, day__gte=start, day__lte=end)

    def for_managers(self, manager_ids: Collection[int] | None) -> Self:
        """None: every manager's figures (and those of customers without one)."""
        return self if manager_ids is None else self.filter(manager_id__in=list(manager_ids))

    def for_kind(self, kind: str) -> Self:
        """A milestone kind's slug; empty for every kind."""
        return self.filter(kind=kind) if kind else self


class DailyFigure(models.Model):
    """One number of one report for one closed day, one account manager and one milestone kind."""

    report = models.CharField(max_length=30, help_text="The report's name, e.g. on-time.")
    day = models.DateField(help_text="The day the figure describes.")
    # A user id, not a foreign key: figures are history and stay when a user is deleted. 0 for
    # customers and touchpoints without an account manager.
    manager_id = models.PositiveIntegerField(default=0, help_text="The account manager's user id; 0 for none.")
    kind = models.CharField(
        max_length=50, blank=True, help_text="The milestone kind's slug the figure is about; empty when not by kind."
    )
    key = models.CharField(max_length=40, help_text="What is counted, e.g. done or on_time.")
    value = models.BigIntegerField()

    objects = DailyFigureQuerySet.as_manager()

    class Meta:
        constraints = [
            # One figure per (report, day, manager, kind, key): the index the reports read by report
            # and period, and what makes writing a day twice impossible.
            models.UniqueConstraint(fields=["report", "day", "manager_id", "kind", "key"], name="daily_figure_once"),
            # Figures are counts.
            models.CheckConstraint(condition=models.Q(value__gte=0), name="daily_figure_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.report} {self.day.isoformat()} {self.key}={self.value}"


class ReportPackDelivery(models.Model):
    """The monthly report pack, e-mailed once per recipient and month; claimed before it is sent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="The first day of the month the pack covers.")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One pack per recipient and month, whatever runs twice: the claim of services.report_packs.
            models.UniqueConstraint(fields=["user", "month"], name="report_pack_once_per_user_per_month"),
            models.CheckConstraint(condition=models.Q(month__day=1), name="report_pack_month_starts_on_the_first"),
        ]

    def __str__(self) -> str:
        return f"report pack of {self.month:%B %Y} for {self.user_id}"
