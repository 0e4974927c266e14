"""The cards report: cards approved, printed, mailed and returned, per month and per batch."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Min, QuerySet, Sum

from campaigns.charts import Chart, Series
from campaigns.models import Batch, Card, DailyFigure
from campaigns.selectors.reports.base import (
    Cell,
    Figure,
    FigureTotals,
    Report,
    ReportDefinition,
    ReportFilters,
    Table,
    day_bounds,
    figure_totals,
    local_date,
    missing_note,
    month_label,
)

NAME = "cards"
EVENTS = (("approved", "Approved"), ("printed", "Printed"), ("mailed", "Mailed"), ("returned", "Returned"))
# The per-batch table lists the latest batches mailed in the period, at most this many.
BATCH_ROWS = 100

_MANAGER = "touchpoint__customer__account_manager_id"
_KIND = "touchpoint__rule__cadence__anchor_kind__slug"


def _counted(cards: QuerySet[Card], key: str, *, per_batch: bool = False) -> list[Figure]:
    """The cards by manager and kind under `key`; with per_batch, also by batch under `key@<batch id>`."""
    groups = cards.values_list(_MANAGER, _KIND, "batch_id").annotate(n=Count("id")).order_by()
    figures: dict[tuple[int, str, str], int] = {}
    for manager, kind, batch_id, n in groups:
        keys = [key, f"{key}@{batch_id}"] if per_batch and batch_id else [key]
        for one in keys:
            figures[manager or 0, kind or "", one] = figures.get((manager or 0, kind or "", one), 0) + n
    return [Figure(manager_id=m, kind=k, key=one, value=n) for (m, k, one), n in figures.items()]


def figures_for_day(day: dt.date) -> list[Figure]:
    """Cards approved on `day`, printed and mailed with their batch that day, and returned that day
    (in the site's time zone), by the customer's account manager; mailed and returned also per batch."""
    start, end = day_bounds(day)
    return [
        *_counted(Card.objects.filter(approved_at__gte=start, approved_at__lt=end), "approved"),
        *_counted(Card.objects.filter(batch__printed_at__gte=start, batch__printed_at__lt=end), "printed"),
        *_counted(Card.objects.filter(batch__mailed_at__gte=start, batch__mailed_at__lt=end), "mailed", per_batch=True),
        *_counted(Card.objects.filter(returned_at__gte=start, returned_at__lt=end), "returned", per_batch=True),
    ]


def _batch_rows(filters: ReportFilters, totals: FigureTotals) -> tuple[list[tuple[Cell, ...]], bool]:
    """The batches mailed in the period (latest first, at most BATCH_ROWS): the viewer's cards in each,
    and those of them returned since (stored days, until yesterday), from the daily figures."""
    mailed = {int(key.split("@")[1]): n for key, n in totals.by_key.items() if key.startswith("mailed@") and n}
    batches = list(
        Batch.objects.filter(pk__in=list(mailed))
        .only("id", "mailed_at")
        .order_by("-mailed_at", "-id")[: BATCH_ROWS + 1]
    )
    shown = batches[:BATCH_ROWS]
    returns = dict(
        DailyFigure.objects.filter(
            report=NAME, day__gte=filters.start, key__in=[f"returned@{batch.pk}" for batch in shown]
        )
        .for_managers(filters.manager_ids)
        .for_kind(filters.kind)
        .values_list("key")
        .annotate(total=Sum("value"))
        .order_by()
    )
    rows: list[tuple[Cell, ...]] = [
        (
            f"B{batch.pk}",
            str(local_date(batch.mailed_at) or ""),
            mailed[batch.pk],
            int(returns.get(f"returned@{batch.pk}", 0)),
        )
        for batch in shown
    ]
    return rows, len(batches) > BATCH_ROWS


def first_day() -> dt.date | None:
    # A card is approved before it is printed, mailed or returned (index card_approved_at).
    return local_date(Card.objects.filter(approved_at__isnull=False).aggregate(first=Min("approved_at"))["first"])


def build(filters: ReportFilters) -> Report:
    totals = figure_totals(DEFINITION, filters)
    months = filters.months()
    month_rows: list[tuple[Cell, ...]] = [
        (month_label(m), *(totals.by_month.get((m, key), 0) for key, _ in EVENTS)) for m in months
    ]
    batch_rows, more = _batch_rows(filters, totals)
    return Report(
        name=NAME,
        title=DEFINITION.title,
        description=DEFINITION.description,
        filters=filters,
        tables=[
            Table("By month", [("month", "Month"), *EVENTS], month_rows),
            Table(
                "By batch (mailed in the period, latest first)",
                [
                    ("batch", "Batch"),
                    ("mailed_on", "Mailed on"),
                    ("mailed", "Cards mailed"),
                    ("returned", "Returned since"),
                ],
                batch_rows,
                note=f"The latest {BATCH_ROWS} batches of the period." if more else "",
            ),
        ],
        chart=Chart(
            kind="bar",
            title="Cards by month",
            x_labels=[str(row[0]) for row in month_rows],
            series=[
                Series(label, [float(row[1 + i] or 0) for row in month_rows]) for i, (_, label) in enumerate(EVENTS)
            ],
            y_title="Cards",
        ),
        notes=missing_note(totals.missing_days),
    )


DEFINITION = ReportDefinition(
    name=NAME,
    title="Cards",
    description="Cards approved, printed, mailed and returned, by the month it happened; and per batch mailed "
    "in the period, its cards and those returned since.",
    build=build,
    figures_for_day=figures_for_day,
    first_day=first_day,
)
