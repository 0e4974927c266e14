"""The coverage report: active customers with no completed touch in 30, 60 and 90 days, with the list.

A state, not events: the figures of a day describe the customers at the start of that day.
Customers in the holdout group are left out (they get no touchpoints by design), and so are
customers who are not active.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

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
from nurture.models import Customer

NAME = "coverage"
WINDOWS = (30, 60, 90)
# The page lists this many of the customers untouched for 30 days (the CSV export has the counts).
LIST_ROWS = 100


def _covered_customers() -> QuerySet[Customer]:
    return Customer.objects.filter(status=Customer.Status.ACTIVE, holdout=False)


def _last_touch(before: dt.datetime) -> Subquery:
    # The index touchpoint_done_customer: (customer, completed_at) of done touchpoints.
    return Subquery(
        Touchpoint.objects.filter(customer=OuterRef("pk"), status=TouchpointStatus.DONE, completed_at__lt=before)
        .order_by("-completed_at")
        .values("completed_at")[:1]
    )


def figures_for_day(day: dt.date) -> list[Figure]:
    """At the start of `day`: per account manager, the active customers, and those whose latest
    completed touch is more than 30, 60 and 90 days old (or who never had one)."""
    start, _ = day_bounds(day)
    untouched = {
        f"untouched_{days}": Count(
            "id", filter=Q(last_touch__isnull=True) | Q(last_touch__lt=start - dt.timedelta(days=days))
        )
        for days in WINDOWS
    }
    groups = (
        _covered_customers()
        .annotate(last_touch=_last_touch(start))
        .values("account_manager_id")
        .annotate(customers=Count("id"), **untouched)
        .order_by()
    )
    figures = []
    for group in groups:
        manager = group.pop("account_manager_id") or 0
        figures += [Figure(manager_id=manager, kind="", key=key, value=int(value)) for key, value in group.items()]
    return figures


def untouched_customers(filters: ReportFilters, days: int = WINDOWS[0], limit: int = LIST_ROWS) -> list[Customer]:
    """Active customers of the viewer with no completed touch in the last `days` days, by name,
    at most `limit`: each is one probe of the index touchpoint_done_customer, from the name order."""
    since, _ = day_bounds(filters.today - dt.timedelta(days=days))
    customers = _covered_customers()
    if filters.manager_ids is not None:
        customers = customers.filter(account_manager_id__in=list(filters.manager_ids))
    recent = Touchpoint.objects.filter(customer=OuterRef("pk"), status=TouchpointStatus.DONE, completed_at__gte=since)
    return list(
        customers.filter(~Exists(recent))
        .annotate(last_touch=_last_touch(day_bounds(filters.today)[1]))
        .select_related("account_manager")
        .order_by("last_name", "first_name", "id")[:limit]
    )


def _date_or_never(moment: dt.datetime | None) -> str:
    return moment.date().isoformat() if moment else "never"


def build(filters: ReportFilters) -> Report:
    day, figures = snapshot(DEFINITION, filters)
    keys = ["customers", *(f"untouched_{days}" for days in WINDOWS)]
    by_manager: dict[int, dict[str, int]] = {}
    for figure in figures:
        by_manager.setdefault(figure.manager_id, dict.fromkeys(keys, 0))[figure.key] += figure.value
    labels = manager_labels(by_manager)
    rows: list[tuple[Cell, ...]] = sorted(
        ((labels[m], *(counts[k] for k in keys)) for m, counts in by_manager.items()),
        key=lambda row: str(row[0]).lower(),
    )
    total = [sum(counts[k] for counts in by_manager.values()) for k in keys]
    rows.append(("All", *total))
    columns = [("manager", "Account manager"), ("customers", "Active customers")] + [
        (f"untouched_{days}", f"No touch in {days} days") for days in WINDOWS
    ]
    listed = untouched_customers(filters)
    list_rows: list[tuple[Cell, ...]] = [
        (
            c.external_id,
            c.full_name,
            c.company,
            (c.account_manager.get_full_name() or c.account_manager.get_username()) if c.account_manager else "",
            _date_or_never(getattr(c, "last_touch", None)),
        )
        for c in listed
    ]
    as_of = f"at the start of {day.isoformat()}" if day else "no figures for this period"
    notes = [f"Figures {as_of}."]
    if filters.kind:
        notes.append("Coverage counts customers, not milestones: the milestone kind filter does not apply.")
    return Report(
        name=NAME,
        title=DEFINITION.title,
        description=DEFINITION.description,
        filters=filters,
        tables=[
            Table("By account manager", columns, rows),
            Table(
                f"Customers with no completed touch in {WINDOWS[0]} days (today)",
                [
                    ("customer", "External ID"),
                    ("name", "Name"),
                    ("company", "Company"),
                    ("manager", "Account manager"),
                    ("last_touch", "Last completed touch"),
                ],
                list_rows,
                note=f"The first {LIST_ROWS} by name." if len(listed) == LIST_ROWS else "",
            ),
        ],
        chart=Chart(
            kind="bar",
            title="Active customers with no completed touch",
            x_labels=[f"{days} days" for days in WINDOWS],
            series=[Series("Customers", [float(v) for v in total[1:]])],
            y_title="Customers",
        ),
        notes=notes,
    )


DEFINITION = ReportDefinition(
    name=NAME,
    title="Coverage",
    description="Active customers (holdout left out) with no completed touch in the last 30, 60 and 90 days, "
    "at the start of the period's last day, and the list of those untouched for 30 days today.",
    build=build,
    figures_for_day=figures_for_day,
    settle_days=lambda: 0,
    backfill=False,
)
