"""The workload report: per account manager, the touchpoints overdue, due this week and later, and
those done in the last 7 and 30 days.

A state, not events: the figures of a day describe the queues at the start of that day.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q

from campaigns.charts import Chart, Series
from campaigns.models import Touchpoint
from campaigns.selectors.reports.base import (
    Cell,
    Figure,
    Report,
    ReportDefinition,
    ReportFilters,
    Table,
    day_bounds,
    manager_labels,
    snapshot,
)
from campaigns.statuses import TouchpointStatus

NAME = "workload"
COLUMNS = (
    ("overdue", "Overdue"),
    ("due_this_week", "Due this week"),
    ("later", "Later"),
    ("done_7", "Done in the last 7 days"),
    ("done_30", "Done in the last 30 days"),
)
# The chart shows the managers with the most open work; the table beneath lists everyone.
CHART_MANAGERS = 20


def figures_for_day(day: dt.date) -> list[Figure]:
    """At the start of `day`: the pending touchpoints by due date (before the day, until the
    week's Sunday, after), and those done in the 7 and 30 days before it, per assignee and kind."""
    sunday = day + dt.timedelta(days=6 - day.weekday())
    start, _ = day_bounds(day)
    groups = (
        Touchpoint.objects.filter(status=TouchpointStatus.PENDING)
        .values_list("assignee_id", "rule__cadence__anchor_kind__slug")
        .annotate(
            overdue=Count("id", filter=Q(due_on__lt=day)),
            due_this_week=Count("id", filter=Q(due_on__gte=day, due_on__lte=sunday)),
            later=Count("id", filter=Q(due_on__gt=sunday)),
        )
        .order_by()
    )
    done = (
        Touchpoint.objects.filter(
            status=TouchpointStatus.DONE, completed_at__gte=start - dt.timedelta(days=30), completed_at__lt=start
        )
        .values_list("assignee_id", "rule__cadence__anchor_kind__slug")
        .annotate(done_7=Count("id", filter=Q(completed_at__gte=start - dt.timedelta(days=7))), done_30=Count("id"))
        .order_by()
    )
    figures = []
    for assignee, kind, overdue, this_week, later in groups:
        for key, value in (("overdue", overdue), ("due_this_week", this_week), ("later", later)):
            if value:
                figures.append(Figure(manager_id=assignee or 0, kind=kind or "", key=key, value=value))
    for assignee, kind, done_7, done_30 in done:
        for key, value in (("done_7", done_7), ("done_30", done_30)):
            if value:
                figures.append(Figure(manager_id=assignee or 0, kind=kind or "", key=key, value=value))
    return figures


def build(filters: ReportFilters) -> Report:
    day, figures = snapshot(DEFINITION, filters)
    keys = [key for key, _ in COLUMNS]
    by_manager: dict[int, dict[str, int]] = {}
    for figure in figures:
        by_manager.setdefault(figure.manager_id, dict.fromkeys(keys, 0))[figure.key] += figure.value
    for manager in filters.managers:
        by_manager.setdefault(manager.id, dict.fromkeys(keys, 0))
    labels = manager_labels(by_manager)
    rows: list[tuple[Cell, ...]] = sorted(
        ((labels[m], *(counts[k] for k in keys)) for m, counts in by_manager.items()),
        key=lambda row: str(row[0]).lower(),
    )
    busiest = sorted(rows, key=lambda row: -sum(int(v or 0) for v in row[1:4]))[:CHART_MANAGERS]
    notes = [f"Figures at the start of {day.isoformat()}." if day else "No figures for this period."]
    if len(rows) > CHART_MANAGERS:
        notes.append(f"The chart shows the {CHART_MANAGERS} account managers with the most open touchpoints.")
    return Report(
        name=NAME,
        title=DEFINITION.title,
        description=DEFINITION.description,
        filters=filters,
        tables=[Table("By account manager", [("manager", "Account manager"), *COLUMNS], rows)],
        chart=Chart(
            kind="stacked",
            title="Open touchpoints per account manager",
            x_labels=[str(row[0]) for row in busiest],
            series=[
                Series(label, [float(row[1 + i] or 0) for row in busiest]) for i, (_, label) in enumerate(COLUMNS[:3])
            ],
            y_title="Touchpoints",
        ),
        notes=notes,
    )


DEFINITION = ReportDefinition(
    name=NAME,
    title="Workload",
    description="Per account manager: touchpoints overdue, due this week (to Sunday) and later, and those done in "
    "the last 7 and 30 days, at the start of the period's last day.",
    build=build,
    figures_for_day=figures_for_day,
    settle_days=lambda: 0,
    backfill=False,
)
