"""The cards report: cards approved, printed, mailed and returned, per month and per batch."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Min, Q, QuerySet

from campaigns.charts import Chart, Series
from campaigns.models import Batch, Card
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
    missing_note,
    month_label,
)
from campaigns.statuses import CardStatus

NAME = "cards"
EVENTS = (("approved", "Approved"), ("printed", "Printed"), ("mailed", "Mailed"), ("returned", "Returned"))
# The per-batch table lists the latest batches of the period, at most this many (about a month of
# daily batches): for an account manager each batch's cards are counted through their customers.
BATCH_ROWS = 24

_MANAGER = "touchpoint__customer__account_manager_id"
_KIND = "touchpoint__rule__cadence__anchor_kind__slug"


def _counted(cards: QuerySet[Card], key: str) -> list[Figure]:
    groups = cards.values_list(_MANAGER, _KIND).annotate(n=Count("id")).order_by()
    return [Figure(manager_id=manager or 0, kind=kind or "", key=key, value=n) for manager, kind, n in groups]


def figures_for_day(day: dt.date) -> list[Figure]:
    """Cards approved on `day`, printed and mailed with their batch that day, and returned that day
    (in the site's time zone), by the customer's account manager."""
    start, end = day_bounds(day)
    return [
        *_counted(Card.objects.filter(approved_at__gte=start, approved_at__lt=end), "approved"),
        *_counted(Card.objects.filter(batch__printed_at__gte=start, batch__printed_at__lt=end), "printed"),
        *_counted(Card.objects.filter(batch__mailed_at__gte=start, batch__mailed_at__lt=end), "mailed"),
        *_counted(Card.objects.filter(returned_at__gte=start, returned_at__lt=end), "returned"),
    ]


def _batch_rows(filters: ReportFilters) -> tuple[list[tuple[Cell, ...]], bool]:
    """The batches made in the period (latest first, at most BATCH_ROWS), with the viewer's cards in
    each: a batch is the print room's, its cards are many account managers'."""
    first, _ = day_bounds(filters.start)
    _, last = day_bounds(filters.end)
    batches = list(
        Batch.objects.filter(created_at__gte=first, created_at__lt=last).order_by("-created_at", "-id")[
            : BATCH_ROWS + 1
        ]
    )
    ids = [b.pk for b in batches[:BATCH_ROWS]]
    cards = Card.objects.filter(batch__in=ids)
    if filters.manager_ids is None and not filters.kind:
        # Everyone's cards: the batch knows how many it holds; the returned ones are few (card_status_batch).
        returned = dict(
            cards.filter(status=CardStatus.RETURNED).values_list("batch_id").annotate(n=Count("id")).order_by()
        )
        counts = {b.pk: {"cards": b.card_count, "returned": returned.get(b.pk, 0)} for b in batches[:BATCH_ROWS]}
    else:
        if filters.manager_ids is not None:
            cards = cards.filter(**{f"{_MANAGER}__in": list(filters.manager_ids)})
        if filters.kind:
            cards = cards.filter(**{_KIND: filters.kind})
        counts = {
            row["batch_id"]: row
            for row in cards.values("batch_id")
            .annotate(cards=Count("id"), returned=Count("id", filter=Q(status=CardStatus.RETURNED)))
            .order_by()
        }
    rows: list[tuple[Cell, ...]] = []
    for batch in batches[:BATCH_ROWS]:
        row = counts.get(batch.pk, {"cards": 0, "returned": 0})
        rows.append(
            (
                f"B{batch.pk}",
                batch.created_at.date().isoformat(),
                batch.get_status_display(),
                row["cards"],
                row["cards"] if batch.printed_at else 0,
                row["cards"] if batch.mailed_at else 0,
                row["returned"],
            )
        )
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
    batch_rows, more = _batch_rows(filters)
    return Report(
        name=NAME,
        title=DEFINITION.title,
        description=DEFINITION.description,
        filters=filters,
        tables=[
            Table("By month", [("month", "Month"), *EVENTS], month_rows),
            Table(
                "By batch (made in the period, latest first)",
                [
                    ("batch", "Batch"),
                    ("made_on", "Made on"),
                    ("status", "Status"),
                    ("cards", "Cards"),
                    ("printed", "Printed"),
                    ("mailed", "Mailed"),
                    ("returned", "Returned"),
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
    description="Cards approved, printed, mailed and returned, by the month it happened, and per batch.",
    build=build,
    figures_for_day=figures_for_day,
    first_day=first_day,
)
