"""The on-time report: the share of touchpoints done within N business days of their due date."""

from __future__ import annotations

import datetime as dt
from functools import cache

from django.db.models import Count, Min

from campaigns.charts import Chart, Series
from campaigns.models import Touchpoint
from campaigns.selectors.reports.base import (
    Figure,
    Report,
    ReportDefinition,
    ReportFilters,
    Table,
    business_days_setting,
    day_bounds,
    figure_totals,
    local_date,
    manager_labels,
    missing_note,
    month_label,
    share,
)
from campaigns.statuses import TouchpointStatus
from nurture.lib.calendar import UnknownRegion, business_days_after

NAME = "on-time"


@cache
def _deadline(due_on: dt.date, days: int, country: str, region: str) -> dt.date:
    try:
        return business_days_after(due_on, days, country, region)
    except UnknownRegion:  # a region the holidays package dropped since: weekdays only
        return business_days_after(due_on, days)


def figures_for_day(day: dt.date) -> list[Figure]:
    """The touchpoints done on `day` (in the site's time zone), and those of them done on time: by
    the customer's business days, at most N after the due date."""
    start, end = day_bounds(day)
    days = business_days_setting()
    groups = (
        Touchpoint.objects.filter(status=TouchpointStatus.DONE, completed_at__gte=start, completed_at__lt=end)
        .values_list(
            "assignee_id", "rule__cadence__anchor_kind__slug", "due_on", "customer__country", "customer__region"
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    done: dict[tuple[int, str], int] = {}
    on_time: dict[tuple[int, str], int] = {}
    for assignee_id, kind, due_on, country, region, n in groups:
        key = (assignee_id or 0, kind or "")
        done[key] = done.get(key, 0) + n
        if day <= _deadline(due_on, days, country, region):
            on_time[key] = on_time.get(key, 0) + n
    figures = [Figure(manager_id=m, kind=k, key="done", value=n) for (m, k), n in done.items()]
    figures += [Figure(manager_id=m, kind=k, key="on_time", value=n) for (m, k), n in on_time.items()]
    return figures


def first_day() -> dt.date | None:
    # Touchpoint completion times are indexed (touchpoint_completed_at): the earliest is one probe.
    return local_date(
        Touchpoint.objects.filter(completed_at__isnull=False).aggregate(first=Min("completed_at"))["first"]
    )


def build(filters: ReportFilters) -> Report:
    totals = figure_totals(DEFINITION, filters)
    months = filters.months()
    by_month = [
        (month_label(m), totals.by_month.get((m, "done"), 0), totals.by_month.get((m, "on_time"), 0)) for m in months
    ]
    managers = sorted({m for m, _ in totals.by_manager})
    labels = manager_labels(managers)
    by_manager = sorted(
        (
            (labels[m], totals.by_manager.get((m, "done"), 0), totals.by_manager.get((m, "on_time"), 0))
            for m in managers
        ),
        key=lambda row: str(row[0]).lower(),
    )
    columns = [("done", "Done"), ("on_time", "On time"), ("share_on_time", "Share on time")]
    days = business_days_setting()
    return Report(
        name=NAME,
        title=DEFINITION.title,
        description=DEFINITION.description.replace("N business days", f"{days} business days"),
        filters=filters,
        tables=[
            Table(
                "By month",
                [("month", "Month"), *columns],
                [(label, done, on, share(on, done)) for label, done, on in by_month],
            ),
            Table(
                "By account manager",
                [("manager", "Account manager"), *columns],
                [(label, done, on, share(on, done)) for label, done, on in by_manager],
            ),
        ],
        chart=Chart(
            kind="bar",
            title=f"Touchpoints done within {days} business days of due",
            x_labels=[label for label, _, _ in by_month],
            series=[Series("Share on time", [share(on, done) for _, done, on in by_month])],
            percent=True,
        ),
        notes=missing_note(totals.missing_days),
    )


DEFINITION = ReportDefinition(
    name=NAME,
    title="On time",
    description="The share of touchpoints done within N business days of their due date (the customer's "
    "business days), by the month they were done.",
    build=build,
    figures_for_day=figures_for_day,
    first_day=first_day,
)
