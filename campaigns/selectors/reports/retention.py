"""The retention report: the renewal rate of nurtured customers against the holdout group.

The renewal rate of a group is, of its customers whose renewal milestone fell in the period, the
share not churned N days after that date (settings.NURTURE_RETENTION_DAYS, default 30). Each
renewal day is counted once, on the night N days after it, and never again: a customer who churns
later does not move a past period. Both groups come with their sizes and a 95% confidence
interval (Wilson for each rate, Newcombe's for the difference); under 30 customers a group is too
small to conclude anything, and the report says so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.conf import settings
from django.db.models import Count, Min, Q

from campaigns.charts import Chart, Series
from campaigns.selectors.reports.base import (
    Cell,
    Figure,
    Report,
    ReportDefinition,
    ReportFilters,
    Table,
    figure_totals,
    missing_note,
)
from nurture.lib.stats import Interval, Proportion, difference_interval
from nurture.models import Customer, Milestone

NAME = "retention"
RENEWAL_KIND = "renewal"
# Under this many customers a group's rate says nothing yet.
MIN_GROUP = 30
GROUPS = (("nurtured", "Nurtured"), ("holdout", "Holdout"))


def retention_days() -> int:
    return int(settings.NURTURE_RETENTION_DAYS)


def figures_for_day(day: dt.date) -> list[Figure]:
    """The customers whose renewal milestone is dated `day`, and those of them not churned (now,
    which the job makes N days after the renewal), per account manager and group."""
    groups = (
        Milestone.objects.filter(kind__slug=RENEWAL_KIND, date=day)
        .values_list("customer__account_manager_id", "customer__holdout")
        .annotate(
            customers=Count("customer_id", distinct=True),
            retained=Count("customer_id", distinct=True, filter=~Q(customer__status=Customer.Status.CHURNED)),
        )
        .order_by()
    )
    figures = []
    for manager, holdout, customers, retained in groups:
        group = "holdout" if holdout else "nurtured"
        figures.append(Figure(manager_id=manager or 0, kind="", key=group, value=customers))
        figures.append(Figure(manager_id=manager or 0, kind="", key=f"{group}_retained", value=retained))
    return figures


def _interval_cells(interval: Interval | None) -> tuple[Cell, Cell]:
    return (None, None) if interval is None else (round(interval.low, 4), round(interval.high, 4))


def first_day() -> dt.date | None:
    first: dt.date | None = Milestone.objects.filter(kind__slug=RENEWAL_KIND).aggregate(first=Min("date"))["first"]
    return first


def build(filters: ReportFilters) -> Report:
    days = retention_days()
    settled_end = min(filters.end, filters.today - dt.timedelta(days=days))
    notes: list[str] = []
    proportions = {key: Proportion(0, 0) for key, _ in GROUPS}
    if settled_end >= filters.start:
        totals = figure_totals(DEFINITION, dataclasses.replace(filters, end=settled_end))
        proportions = {
            key: Proportion(totals.by_key.get(f"{key}_retained", 0), totals.by_key.get(key, 0)) for key, _ in GROUPS
        }
        notes += missing_note(totals.missing_days)
    if settled_end < filters.end:
        notes.append(
            f"Renewals after {settled_end.isoformat()} are not counted yet: "
            f"a renewal counts {days} days after its date."
        )
    rows: list[tuple[Cell, ...]] = []
    for key, label in GROUPS:
        p = proportions[key]
        rows.append((label, p.total, p.successes, p.rate, *_interval_cells(p.wilson())))
        if p.total < MIN_GROUP:
            notes.append(
                f"The {label.lower()} group has {p.total} customer(s) with a renewal in this period: under "
                f"{MIN_GROUP}, too few to conclude anything."
            )
    nurtured, holdout = proportions["nurtured"], proportions["holdout"]
    difference = None if nurtured.rate is None or holdout.rate is None else round(nurtured.rate - holdout.rate, 4)
    rows.append(
        (
            "Difference (nurtured - holdout)",
            None,
            None,
            difference,
            *_interval_cells(difference_interval(nurtured, holdout)),
        )
    )
    if filters.kind:
        notes.append("Retention is about renewals: the milestone kind filter does not apply.")
    return Report(
        name=NAME,
        title=DEFINITION.title,
        description=DEFINITION.description.replace("N days", f"{days} days"),
        filters=filters,
        tables=[
            Table(
                "Renewal rate",
                [
                    ("group", "Group"),
                    ("customers", "Customers with a renewal"),
                    ("retained", f"Not churned {days} days later"),
                    ("rate", "Renewal rate"),
                    ("ci_low", "95% CI from"),
                    ("ci_high", "95% CI to"),
                ],
                rows,
            )
        ],
        chart=Chart(
            kind="bar",
            title="Renewal rate, nurtured and holdout",
            x_labels=[label for _, label in GROUPS],
            series=[Series("Renewal rate", [p.rate for p in proportions.values()])],
            percent=True,
        ),
        notes=notes,
    )


DEFINITION = ReportDefinition(
    name=NAME,
    title="Retention",
    description="Of the customers whose renewal milestone fell in the period, the share not churned N days after "
    "it: nurtured customers against the holdout group, with 95% confidence intervals.",
    build=build,
    figures_for_day=figures_for_day,
    first_day=first_day,
    settle_days=retention_days,
)
