"""The stages report: customers per stage of each cadence's journey, and the moves between stages
in the period (campaigns/selectors/stages.py, docs/journey-map.md).

Daily figures, like the coverage report's state and the on-time report's events at once: the
figures of day D are, per active cadence and account manager, the customers in each stage at the
start of D (key "<cadence>:in:<stage or 0>") and the moves made during the day before, D - 1
(key "<cadence>:mv:<from stage, 0, or e for an entry>:<to stage or 0>"), all stored on D. So
the night's run writes the state of the new day and the moves of the day just over; the page
reads a handful of stored rows, never the touchpoints, except for the days the job has not
written yet (at most LIVE_DAYS, like base.figure_totals).

Each active cadence also gets the figure "<cadence>:counted" = 1 (account manager 0) on each day:
the day holds that cadence's figures, even when they are all zero. The cadence page
(selectors/cadence_figures.py) reads a day for a cadence only when it says so: a cadence that was
inactive when the day was written has none there, and must be counted live.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Min, Sum

from campaigns.charts import Chart, Series
from campaigns.models import Cadence, DailyFigure, ReportDay, Stage, Touchpoint
from campaigns.selectors.reports.base import (
    LIVE_DAYS,
    Cell,
    Figure,
    Report,
    ReportDefinition,
    ReportFilters,
    Table,
    day_bounds,
    local_date,
    missing_note,
    snapshot,
)
from campaigns.selectors.stages import (
    ENTERED,
    NO_STAGE,
    customers_per_stage_by_manager,
    stage_moves_by_manager,
)

NAME = "stages"
# How far back the first run of the nightly job writes this report's days.
BACKFILL_DAYS = 90
ONE_DAY = dt.timedelta(days=1)


def prefix_in(cadence_id: int) -> str:
    return f"{cadence_id}:in:"


def prefix_move(cadence_id: int) -> str:
    return f"{cadence_id}:mv:"


def key_in(cadence_id: int, stage_id: int | None) -> str:
    return f"{prefix_in(cadence_id)}{stage_id or 0}"


def key_move(cadence_id: int, from_stage_id: int | None, entered: bool, to_stage_id: int | None) -> str:
    return f"{prefix_move(cadence_id)}{'e' if entered else from_stage_id or 0}:{to_stage_id or 0}"


def key_counted(cadence_id: int) -> str:
    return f"{cadence_id}:counted"


def stage_of_key_in(cadence_id: int, key: str) -> int | None:
    """The stage id of a key_in() of this cadence (None: "No stage")."""
    return int(key.removeprefix(prefix_in(cadence_id))) or None


def move_of_key(cadence_id: int, key: str) -> tuple[int | None, bool, int | None]:
    """(from stage id, entered, to stage id) of a key_move() of this cadence."""
    from_key, to_key = key.removeprefix(prefix_move(cadence_id)).split(":")
    entered = from_key == "e"
    return (None if entered else int(from_key) or None), entered, int(to_key) or None


def _kind(cadence: Cadence) -> str:
    # Stored under the cadence's milestone kind, so the Milestone kind filter narrows the figures
    # the way it narrows the cadences.
    return cadence.anchor_kind.slug if cadence.anchor_kind is not None else ""


def _active_cadences() -> list[Cadence]:
    return list(Cadence.objects.filter(active=True).select_related("anchor_kind").order_by("id"))


def _moves_of_day(cadences: list[Cadence], day: dt.date) -> list[Figure]:
    start, end = day_bounds(day)
    return [
        Figure(
            manager_id=move.manager_id,
            kind=_kind(cadence),
            key=key_move(cadence.pk, move.from_stage_id, move.entered, move.to_stage_id),
            value=move.moves,
        )
        for cadence in cadences
        for move in stage_moves_by_manager(cadence=cadence, start=start, end=end)
    ]


def figures_for_day(day: dt.date) -> list[Figure]:
    """Per active cadence and account manager: the customers per stage at the start of `day`, and
    the moves made during the day before."""
    cadences = _active_cadences()
    as_of = day_bounds(day)[0]
    # customers_per_stage counts touchpoints done at or before as_of; the start of the day belongs to it.
    as_of -= dt.timedelta(microseconds=1)
    figures = [
        Figure(manager_id=manager, kind=_kind(cadence), key=key_in(cadence.pk, stage), value=customers)
        for cadence in cadences
        for (manager, stage), customers in customers_per_stage_by_manager(cadence=cadence, as_of=as_of).items()
    ]
    # Which cadences the day holds (see the module's docstring).
    counted = [Figure(manager_id=0, kind=_kind(cadence), key=key_counted(cadence.pk), value=1) for cadence in cadences]
    return figures + _moves_of_day(cadences, day - ONE_DAY) + counted


def first_day() -> dt.date | None:
    """The day of the first completed touchpoint: the days before it are empty. Any touchpoint's,
    not only a done one of an active cadence: completion times are indexed (touchpoint_completed_at),
    so it is one probe, and it is never later than the first day with figures."""
    return local_date(
        Touchpoint.objects.filter(completed_at__isnull=False).aggregate(first=Min("completed_at"))["first"]
    )


def _cadences(filters: ReportFilters) -> list[Cadence]:
    if filters.cadence_id is not None:
        return list(Cadence.objects.filter(pk=filters.cadence_id))
    cadences = Cadence.objects.filter(active=True)
    if filters.kind:
        cadences = cadences.filter(anchor_kind__slug=filters.kind)
    return list(cadences.order_by("name", "id"))


def _wanted(figure: Figure, filters: ReportFilters) -> bool:
    return (filters.manager_ids is None or figure.manager_id in filters.manager_ids) and (
        not filters.kind or figure.kind == filters.kind
    )


def _move_totals(filters: ReportFilters) -> tuple[dict[str, int], list[dt.date]]:
    """The moves made in the period by key, summed over its days, and the days with none stored
    and too old to compute live. The moves of day X are stored on day X + 1."""
    end = min(filters.end, filters.today)
    totals: dict[str, int] = defaultdict(int)
    stored = (
        DailyFigure.objects.of(NAME, filters.start + ONE_DAY, end + ONE_DAY)
        .for_managers(filters.manager_ids)
        .for_kind(filters.kind)
        .filter(key__contains=":mv:")
        .values_list("key")
        .annotate(total=Sum("value"))
        .order_by()
    )
    for key, total in stored:
        totals[key] += int(total)
    recorded = set(
        ReportDay.objects.of(NAME)
        .filter(day__gte=filters.start + ONE_DAY, day__lte=end + ONE_DAY)
        .values_list("day", flat=True)
    )
    live_from = filters.today - dt.timedelta(days=LIVE_DAYS - 1)
    missing: list[dt.date] = []
    live: list[dt.date] = []
    for n in range((end - filters.start).days + 1):
        day = filters.start + dt.timedelta(days=n)
        if day + ONE_DAY in recorded:
            continue
        (live if day >= live_from else missing).append(day)
    cadences = _active_cadences() if live else []
    for day in live:
        for figure in _moves_of_day(cadences, day):
            if _wanted(figure, filters):
                totals[figure.key] += figure.value
    return totals, missing


def build(filters: ReportFilters) -> Report:
    cadences = _cadences(filters)
    day, figures = snapshot(DEFINITION, filters)
    in_stage: dict[str, int] = defaultdict(int)
    for figure in figures:
        if ":in:" in figure.key:
            in_stage[figure.key] += figure.value
    moves, missing = _move_totals(filters)
    stages_of: dict[int, list[Stage]] = defaultdict(list)
    for stage in Stage.objects.filter(cadence__in=cadences).order_by("position", "id"):
        stages_of[stage.cadence_id].append(stage)
    stage_rows: list[tuple[Cell, ...]] = []
    move_rows: list[tuple[Cell, ...]] = []
    for cadence in cadences:
        names: dict[str, str] = {str(stage.pk): stage.name for stage in stages_of[cadence.pk]}
        names["0"] = NO_STAGE
        names["e"] = ENTERED
        for stage in stages_of[cadence.pk]:
            stage_rows.append((cadence.name, stage.name, in_stage.get(key_in(cadence.pk, stage.pk), 0)))
        if in_stage.get(key_in(cadence.pk, None)):
            stage_rows.append((cadence.name, NO_STAGE, in_stage[key_in(cadence.pk, None)]))
        prefix = prefix_move(cadence.pk)
        rows = []
        for key, count in moves.items():
            if not key.startswith(prefix) or not count:
                continue
            from_key, to_key = key[len(prefix) :].split(":")
            rows.append(
                (
                    count,
                    from_key == "e",
                    names.get(from_key, "(deleted stage)"),
                    names.get(to_key, "(deleted stage)"),
                )
            )
        for count, _, from_name, to_name in sorted(rows, key=lambda r: (-r[0], r[1], r[2], r[3])):
            move_rows.append((cadence.name, from_name, to_name, count))
    one = len(cadences) == 1
    as_of = f"at the start of {day.isoformat()}" if day else "none stored for this period"
    notes = [f"Customers in a stage {as_of}; moves made in the period."]
    notes += missing_note(missing)
    if not cadences:
        notes.append("No cadence to report on.")
    elif any(not cadence.active for cadence in cadences):
        notes.append("Daily figures are kept for active cadences only: an inactive cadence shows none.")
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
                [("cadence", "Cadence"), ("from_stage", "From stage"), ("to_stage", "To stage"), ("moves", "Moves")],
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
    description="Per cadence: the customers in each stage of its journey at the start of the period's last day, "
    "and the moves between stages made in the period.",
    build=build,
    figures_for_day=figures_for_day,
    # A day's figures are written at its start: the state then, and the moves of the day just over.
    settle_days=lambda: 0,
    first_day=first_day,
    # A day is two grouped statements per cadence over every customer (about 25 s at 1,000,000
    # customers): the first run writes the last 90 days, not a year and more.
    backfill_days=BACKFILL_DAYS,
    cadence_filter=True,
)
