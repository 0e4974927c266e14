"""Customers per stage of a cadence's journey, and how they move between stages: plain rows for a report.

A customer is *in* the stage of their latest done touchpoint of the cadence (by completion time,
then id). A *move* is a done touchpoint whose stage differs from the stage of the customer's
done touchpoint of the cadence just before it; the first done touchpoint of a customer is an
entry into the journey. Steps without a stage count as the stage "No stage".

Both are grouped in SQL (a NOT EXISTS and a correlated subquery on the partial indexes
touchpoint_done_customer and touchpoint_done_rule), scoped to the customers the user sees:
a handful of rows, however many customers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from campaigns.models import Cadence, Stage, Touchpoint

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    User = AbstractBaseUser | AnonymousUser

NO_STAGE = "No stage"
ENTERED = "(entered the journey)"
DELETED_STAGE = "(deleted stage)"
DEFAULT_PERIOD_DAYS = 30


@dataclass(frozen=True)
class StageCount:
    stage_id: int | None
    stage: str
    customers: int


@dataclass(frozen=True)
class StageMove:
    from_stage_id: int | None
    from_stage: str
    to_stage_id: int | None
    to_stage: str
    moves: int
    # Distinct customers who made the move; None from the stored daily figures, which cannot add
    # distinct customers up over days.
    customers: int | None
    # The customer's first done touchpoint of the cadence: they entered the journey here.
    entered: bool


def _done(cadence: Cadence, user: User | None, manager_ids: Collection[int] | None) -> QuerySet[Touchpoint]:
    """The cadence's done touchpoints of the customers `user` sees (None: everyone's), and of those
    customers' account managers among `manager_ids` when given (the reports' scope)."""
    done = Touchpoint.objects.all() if user is None else Touchpoint.objects.visible_to(user)
    if manager_ids is not None:
        done = done.filter(customer__account_manager_id__in=list(manager_ids))
    return done.filter(rule__cadence=cadence, status=Touchpoint.Status.DONE, completed_at__isnull=False)


def _next_to(cadence: Cadence, *, before: bool) -> QuerySet[Touchpoint]:
    """The same customer's done touchpoints of the cadence before (or after) the outer one, in the
    order of their completion, then of their id."""
    op = "lt" if before else "gt"
    return Touchpoint.objects.filter(
        customer_id=OuterRef("customer_id"),
        rule__cadence=cadence,
        status=Touchpoint.Status.DONE,
        completed_at__isnull=False,
    ).filter(
        Q(**{f"completed_at__{op}": OuterRef("completed_at")})
        | Q(completed_at=OuterRef("completed_at"), **{f"pk__{op}": OuterRef("pk")})
    )


def _names(cadence: Cadence) -> tuple[list[Stage], dict[int | None, str]]:
    stages = list(Stage.objects.filter(cadence=cadence).order_by("position", "id"))
    names: dict[int | None, str] = {stage.pk: stage.name for stage in stages}
    names[None] = NO_STAGE
    return stages, names


def _latest_done(cadence: Cadence, done: QuerySet[Touchpoint], as_of: dt.datetime) -> QuerySet[Touchpoint]:
    """Of `done`, each customer's latest done touchpoint of the cadence at `as_of`."""
    later = _next_to(cadence, before=False).filter(completed_at__lte=as_of)
    return done.filter(completed_at__lte=as_of).filter(~Exists(later))


def customers_per_stage(
    *,
    cadence: Cadence,
    user: User | None,
    as_of: dt.datetime | None = None,
    manager_ids: Collection[int] | None = None,
) -> list[StageCount]:
    """Per stage (in the cadence's order, "No stage" last), the customers whose latest done touchpoint is in it."""
    as_of = as_of or timezone.now()
    rows: dict[int | None, int] = dict(
        _latest_done(cadence, _done(cadence, user, manager_ids), as_of)
        .values("rule__stage_id")
        .annotate(customers=Count("customer_id"))
        .values_list("rule__stage_id", "customers")
        .order_by()
    )
    return stage_counts(cadence=cadence, customers=rows)


def stage_counts(*, cadence: Cadence, customers: Mapping[int | None, int]) -> list[StageCount]:
    """Customers by stage id (None: "No stage") as rows: every stage of the cadence in its order,
    then "No stage" when it holds anyone; ids of stages deleted since are left out."""
    stages = _names(cadence)[0]
    counts = [StageCount(stage_id=stage.pk, stage=stage.name, customers=customers.get(stage.pk, 0)) for stage in stages]
    if customers.get(None):
        counts.append(StageCount(stage_id=None, stage=NO_STAGE, customers=customers[None]))
    return counts


def customers_per_stage_by_manager(*, cadence: Cadence, as_of: dt.datetime) -> dict[tuple[int, int | None], int]:
    """The same count grouped by account manager too (the stages report's daily figures):
    (account manager id, 0 for none; stage id, None for "No stage") -> customers."""
    rows = (
        _latest_done(cadence, _done(cadence, None, None), as_of)
        .values("customer__account_manager_id", "rule__stage_id")
        .annotate(customers=Count("customer_id"))
        .values_list("customer__account_manager_id", "rule__stage_id", "customers")
        .order_by()
    )
    return {(manager or 0, stage): customers for manager, stage, customers in rows}


def _move_rows(
    cadence: Cadence, done: QuerySet[Touchpoint], start: dt.datetime, end: dt.datetime, *group: str
) -> QuerySet[Touchpoint, dict[str, Any]]:
    """The done touchpoints of [start, end) with the stage before them, grouped by `group`, the
    stage before (from_stage, has_previous) and their own stage (rule__stage_id)."""
    before = _next_to(cadence, before=True)
    previous_stage = Subquery(before.order_by("-completed_at", "-pk").values("rule__stage_id")[:1])
    fields = (*group, "from_stage", "has_previous", "rule__stage_id")
    return (
        done.filter(completed_at__gte=start, completed_at__lt=end)
        .annotate(from_stage=previous_stage, has_previous=Exists(before))
        .values(*fields)
    )


def stage_moves(
    *,
    cadence: Cadence,
    user: User | None,
    start: dt.datetime,
    end: dt.datetime,
    manager_ids: Collection[int] | None = None,
) -> list[StageMove]:
    """The moves between stages made by touchpoints done in [start, end), most frequent first."""
    rows = (
        _move_rows(cadence, _done(cadence, user, manager_ids), start, end)
        .annotate(moves=Count("pk"), customers=Count("customer_id", distinct=True))
        .order_by()
    )
    names = _names(cadence)[1]
    moves = [
        StageMove(
            from_stage_id=row["from_stage"] if row["has_previous"] else None,
            from_stage=names.get(row["from_stage"], NO_STAGE) if row["has_previous"] else ENTERED,
            to_stage_id=row["rule__stage_id"],
            to_stage=names.get(row["rule__stage_id"], NO_STAGE),
            moves=row["moves"],
            customers=row["customers"],
            entered=not row["has_previous"],
        )
        for row in rows
        if not row["has_previous"] or row["from_stage"] != row["rule__stage_id"]
    ]
    return _in_order(moves)


def _in_order(moves: list[StageMove]) -> list[StageMove]:
    """Most frequent first, then moves before entries, then by name."""
    return sorted(moves, key=lambda move: (-move.moves, move.entered, move.from_stage, move.to_stage))


def stage_moves_counted(
    *, cadence: Cadence, moves: Mapping[tuple[int | None, bool, int | None], int]
) -> list[StageMove]:
    """Moves counted elsewhere (the stored daily figures), by (from stage id, entered, to stage id),
    as rows like stage_moves() gives, without distinct customers; a stage deleted since is named
    "(deleted stage)"."""
    names = _names(cadence)[1]

    def name(stage_id: int | None) -> str:
        return names.get(stage_id, DELETED_STAGE)

    return _in_order(
        [
            StageMove(
                from_stage_id=from_id,
                from_stage=ENTERED if entered else name(from_id),
                to_stage_id=to_id,
                to_stage=name(to_id),
                moves=count,
                customers=None,
                entered=entered,
            )
            for (from_id, entered, to_id), count in moves.items()
            if count
        ]
    )


@dataclass(frozen=True)
class ManagerMove:
    """Moves of one account manager's customers between two stages (the stages report's daily figures)."""

    manager_id: int
    # None with `entered`: the customer entered the journey; None otherwise: from "No stage".
    from_stage_id: int | None
    entered: bool
    to_stage_id: int | None
    moves: int


def stage_moves_by_manager(*, cadence: Cadence, start: dt.datetime, end: dt.datetime) -> list[ManagerMove]:
    """The moves made in [start, end) grouped by account manager too (0: no account manager)."""
    rows = (
        _move_rows(cadence, _done(cadence, None, None), start, end, "customer__account_manager_id")
        .annotate(moves=Count("pk"))
        .order_by()
    )
    return [
        ManagerMove(
            manager_id=row["customer__account_manager_id"] or 0,
            from_stage_id=row["from_stage"] if row["has_previous"] else None,
            entered=not row["has_previous"],
            to_stage_id=row["rule__stage_id"],
            moves=row["moves"],
        )
        for row in rows
        if not row["has_previous"] or row["from_stage"] != row["rule__stage_id"]
    ]


def recent_stage_moves(*, cadence: Cadence, user: User, days: int = DEFAULT_PERIOD_DAYS) -> list[StageMove]:
    """The moves of the last `days` days (the cadence page's table)."""
    end = timezone.now()
    return stage_moves(cadence=cadence, user=user, start=end - dt.timedelta(days=days), end=end)
