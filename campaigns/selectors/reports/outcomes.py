"""The outcomes report: the outcomes of the calls done, by type, month by month."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Min

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
    figure_totals,
    local_date,
    manager_labels,
    missing_note,
    month_label,
)
from campaigns.statuses import TouchpointStatus

NAME = "outcomes"
OUTCOMES = Touchpoint.Outcome.choices


def figures_for_day(day: dt.date) -> list[Figure]:
    """The calls done on `day` (in the site's time zone), by outcome."""
    start, end = day_bounds(day)
    groups = (
        Touchpoint.objects.filter(
            status=TouchpointStatus.DONE, kind=Touchpoint.Kind.CALL, completed_at__gte=start, completed_at__lt=end
        )
        .values_list("assignee_id", "rule__cadence__anchor_kind__slug", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        Figure(manager_id=assignee_id or 0, kind=kind or "", key=outcome, value=n)
        for assignee_id, kind, outcome, n in groups
        if outcome
    ]


def _row(label: str, counts: list[int]) -> tuple[Cell, ...]:
    return (label, *counts, sum(counts))


def first_day() -> dt.date | None:
    # Touchpoint completion times are indexed (touchpoint_completed_at): the earliest is one probe.
    return local_date(
        Touchpoint.objects.filter(completed_at__isnull=False).aggregate(first=Min("completed_at"))["first"]
    )


def build(filters: ReportFilters) -> Report:
    totals = figure_totals(DEFINITION, filters)
    month_rows = [
        _row(month_label(m), [totals.by_month.get((m, value), 0) for value, _ in OUTCOMES]) for m in filters.months()
    ]
    managers = sorted({m for m, _ in totals.by_manager})
    labels = manager_labels(managers)
    manager_rows = sorted(
        (_row(labels[m], [totals.by_manager.get((m, value), 0) for value, _ in OUTCOMES]) for m in managers),
        key=lambda row: str(row[0]).lower(),
    )
    columns = [*((value, str(label)) for value, label in OUTCOMES), ("total", "Total")]
    return Report(
        name=NAME,
        title=DEFINITION.title,
        description=DEFINITION.description,
        filters=filters,
        tables=[
            Table("By month", [("month", "Month"), *columns], month_rows),
            Table("By account manager", [("manager", "Account manager"), *columns], manager_rows),
        ],
        chart=Chart(
            kind="stacked",
            title="Outcomes of the calls done",
            x_labels=[str(row[0]) for row in month_rows],
            series=[
                Series(str(label), [float(row[1 + i] or 0) for row in month_rows])
                for i, (_, label) in enumerate(OUTCOMES)
            ],
            y_title="Calls",
        ),
        notes=missing_note(totals.missing_days),
    )


DEFINITION = ReportDefinition(
    name=NAME,
    title="Outcomes",
    description="The outcomes of the calls done (reached, voicemail, no answer, at risk), by the month they were done.",
    build=build,
    figures_for_day=figures_for_day,
    first_day=first_day,
)
