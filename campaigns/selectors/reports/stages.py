"""The stages report: customers per stage of each cadence's journey at the end of the period, and
the moves between stages in the period (campaigns/selectors/stages.py, docs/journey-map.md).

Live figures, not daily ones: each cadence is two grouped statements on the partial indexes of
done touchpoints, a handful of rows however many customers. Customers count for their account
manager. The Cadence filter narrows it to one cadence; without it, every active cadence.
"""

from __future__ import annotations

from django.utils import timezone

from campaigns.charts import Chart, Series
from campaigns.models import Cadence
from campaigns.selectors.reports.base import Cell, Report, ReportDefinition, ReportFilters, Table, day_bounds
from campaigns.selectors.stages import customers_per_stage, stage_moves

NAME = "stages"


def _cadences(filters: ReportFilters) -> list[Cadence]:
    if filters.cadence_id is not None:
        return list(Cadence.objects.filter(pk=filters.cadence_id))
    cadences = Cadence.objects.filter(active=True)
    if filters.kind:
        cadences = cadences.filter(anchor_kind__slug=filters.kind)
    return list(cadences.order_by("name", "id"))


def build(filters: ReportFilters) -> Report:
    cadences = _cadences(filters)
    start = day_bounds(filters.start)[0]
    end = min(day_bounds(filters.end)[1], timezone.now())
    stage_rows: list[tuple[Cell, ...]] = []
    move_rows: list[tuple[Cell, ...]] = []
    for cadence in cadences:
        for count in customers_per_stage(cadence=cadence, user=None, as_of=end, manager_ids=filters.manager_ids):
            stage_rows.append((cadence.name, count.stage, count.customers))
        for move in stage_moves(cadence=cadence, user=None, start=start, end=end, manager_ids=filters.manager_ids):
            move_rows.append((cadence.name, move.from_stage, move.to_stage, move.moves, move.customers))
    one = len(cadences) == 1
    notes = [f"Customers in a stage at the end of {filters.end.isoformat()}; moves made in the period."]
    if not cadences:
        notes.append("No cadence to report on.")
    return Report(
        name=NAME,
        title=DEFINITION.title,
        description=DEFINITION.description,
        filters=filters,
        tables=[
            Table(
                "Customers per stage",
                [("cadence", "Cadence"), ("stage", "Stage"), ("customers", "Customers")],
                stage_rows,
                note="A customer is in the stage of their latest done touchpoint of the cadence.",
            ),
            Table(
                "Moves between stages in the period",
                [
                    ("cadence", "Cadence"),
                    ("from_stage", "From stage"),
                    ("to_stage", "To stage"),
                    ("moves", "Moves"),
                    ("customers", "Customers"),
                ],
                move_rows,
            ),
        ],
        chart=Chart(
            kind="bar",
            title=f"Customers per stage: {cadences[0].name}" if one else "Customers per stage",
            x_labels=[str(row[1]) if one else f"{row[0]}: {row[1]}" for row in stage_rows],
            series=[Series("Customers", [float(row[2] or 0) for row in stage_rows])],
            y_title="Customers",
        ),
        notes=notes,
    )


DEFINITION = ReportDefinition(
    name=NAME,
    title="Stages",
    description="Per cadence: the customers in each stage of its journey at the end of the period, and the moves "
    "between stages made in the period.",
    build=build,
    cadence_filter=True,
)
