"""The cadence page's journey figures: the nightly job's stored figures when it has written them,
counted live only when it has not.

Counted live, the journey map's per-step figures (journey_map.step_figures), the customers per
stage and the recent moves (stages.customers_per_stage, stages.recent_stage_moves) read every
touchpoint of the cadence: seconds to a minute at 1,000,000 customers. The nightly job "Report
figures" (services/report_figures.py) stores the same figures per account manager:

- the journey-steps figure set (reports/journey_steps.py): each rule's figures as they stood when
  the job ran, just after midnight;
- the stages report (reports/stages.py): per active cadence, the customers per stage at the start
  of each day and the moves made each day, and which cadences a day holds (key_counted).

The page reads the latest of today's and yesterday's stored days (yesterday's while tonight's run
has not written today's) and sums its rows over the account managers whose customers the user
sees, exactly as `visible_to` scopes the live counts (nurture.querysets.account_managers_seen_by):
an account manager their own customers, whoever sees all customers everyone's. The sums equal
what the live counts gave for that day (tests/campaigns/test_cadence_figures.py). With no stored
day (a fresh install before the first night, a job that has not run for two nights, a cadence
that was inactive when the day was written) the page counts live, as before, and says so.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Cadence, DailyFigure, ReportDay, Rule
from campaigns.selectors.journey_map import FIGURE_NAMES, StepFigures, step_figures
from campaigns.selectors.reports import journey_steps
from campaigns.selectors.reports import stages as stages_report
from campaigns.selectors.reports.base import day_bounds
from campaigns.selectors.stages import (
    DEFAULT_PERIOD_DAYS,
    StageCount,
    StageMove,
    customers_per_stage,
    recent_stage_moves,
    stage_counts,
    stage_moves,
    stage_moves_counted,
)
from nurture.querysets import account_managers_seen_by

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    User = AbstractBaseUser | AnonymousUser

# Stored figures are read when they are today's or yesterday's (before tonight's run); older ones
# are not shown: the page counts live.
FRESH_DAYS = 2
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class StepFiguresRead:
    """The journey map's per-step figures {rule id: figures}, and where they come from."""

    figures: dict[int, StepFigures]
    # The stored day read, and when the nightly job wrote it; None for both: counted live now.
    day: dt.date | None
    recorded_at: dt.datetime | None

    @property
    def stored(self) -> bool:
        return self.day is not None

    @property
    def note(self) -> str:
        if self.recorded_at is None:
            return (
                "Counted live: the nightly job “Report figures” has not stored this cadence's figures for today or "
                "yesterday yet."
            )
        at = timezone.localtime(self.recorded_at)
        return (
            f"As they stood on {at:%Y-%m-%d} at {at:%H:%M}, when the nightly job “Report figures” stored them "
            f"(overdue: due before {self.day}); refreshed every night."
        )


@dataclass(frozen=True)
class StageFiguresRead:
    """Customers per stage and the moves between stages, and where they come from."""

    counts: list[StageCount]
    moves: list[StageMove]
    # The stored day whose start the counts describe; None: counted live now.
    day: dt.date | None
    # The moves' days, both included.
    moves_from: dt.date
    moves_to: dt.date
    # The moves read from the stored days (False: counted live for the same days, or, with no
    # stored day, for the last DEFAULT_PERIOD_DAYS days up to now).
    moves_stored: bool

    @property
    def counts_note(self) -> str:
        if self.day is None:
            return (
                "Counted live, now: the nightly job “Report figures” has not stored this cadence's stages for today "
                "or yesterday (it keeps them for active cadences)."
            )
        return f"At the start of {self.day}, from the figures the nightly job “Report figures” stored."

    @property
    def moves_title(self) -> str:
        if self.day is None:
            return f"last {DEFAULT_PERIOD_DAYS} days"
        return f"{self.moves_from} to {self.moves_to}"

    @property
    def moves_note(self) -> str:
        if self.day is None:
            return "Counted live, up to now."
        if self.moves_stored:
            return "From the figures the nightly job stored for each day."
        return "Counted live for these days: some of them have no figures of this cadence stored."


def cadence_step_figures(*, cadence: Cadence, user: User, today: dt.date | None = None) -> StepFiguresRead:
    """The journey map's per-step figures for the customers `user` sees: the latest fresh stored
    day's, else counted live."""
    today = today or timezone.localdate()
    stored = (
        ReportDay.objects.of(journey_steps.NAME)
        .filter(day__gte=today - dt.timedelta(days=FRESH_DAYS - 1), day__lte=today)
        .order_by("-day")
        .values_list("day", "recorded_at")
        .first()
    )
    if stored is None:
        return StepFiguresRead(
            figures=step_figures(cadence=cadence, user=user, today=today), day=None, recorded_at=None
        )
    day, recorded_at = stored
    keys = {
        journey_steps.key(rule_id, name): (rule_id, name)
        for rule_id in Rule.objects.filter(cadence=cadence).values_list("pk", flat=True)
        for name in FIGURE_NAMES
    }
    rows = (
        DailyFigure.objects.filter(report=journey_steps.NAME, day=day, key__in=list(keys))
        .for_managers(account_managers_seen_by(user))
        .values_list("key")
        .annotate(total=Sum("value"))
        .order_by()
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for key, total in rows:
        rule_id, name = keys[key]
        counts[rule_id][name] = int(total)
    figures = {rule_id: StepFigures(**by_name) for rule_id, by_name in counts.items()}
    return StepFiguresRead(figures=figures, day=day, recorded_at=recorded_at)


def cadence_stage_figures(*, cadence: Cadence, user: User, today: dt.date | None = None) -> StageFiguresRead:
    """Customers per stage and the moves of the DEFAULT_PERIOD_DAYS days before, for the customers
    `user` sees: from the latest fresh stored day that holds the cadence, else counted live now."""
    today = today or timezone.localdate()
    counted = DailyFigure.objects.filter(
        report=stages_report.NAME, manager_id=0, key=stages_report.key_counted(cadence.pk)
    )
    day = (
        counted.filter(day__gte=today - dt.timedelta(days=FRESH_DAYS - 1), day__lte=today)
        .order_by("-day")
        .values_list("day", flat=True)
        .first()
    )
    if day is None:
        return StageFiguresRead(
            counts=customers_per_stage(cadence=cadence, user=user),
            moves=recent_stage_moves(cadence=cadence, user=user),
            day=None,
            moves_from=today - dt.timedelta(days=DEFAULT_PERIOD_DAYS),
            moves_to=today,
            moves_stored=False,
        )
    managers = account_managers_seen_by(user)
    in_stage = (
        DailyFigure.objects.filter(
            report=stages_report.NAME, day=day, key__startswith=stages_report.prefix_in(cadence.pk)
        )
        .for_managers(managers)
        .values_list("key")
        .annotate(total=Sum("value"))
        .order_by()
    )
    counts = stage_counts(
        cadence=cadence,
        customers={stages_report.stage_of_key_in(cadence.pk, key): int(total) for key, total in in_stage},
    )
    # The moves of the days before `day`: those of day X are stored on X + 1.
    moves_from, moves_to = day - dt.timedelta(days=DEFAULT_PERIOD_DAYS), day - ONE_DAY
    moves, stored = _stored_moves(cadence, managers, moves_from + ONE_DAY, day)
    if not stored:
        moves = stage_moves(cadence=cadence, user=user, start=day_bounds(moves_from)[0], end=day_bounds(moves_to)[1])
    return StageFiguresRead(
        counts=counts, moves=moves, day=day, moves_from=moves_from, moves_to=moves_to, moves_stored=stored
    )


def _stored_moves(
    cadence: Cadence, managers: frozenset[int] | None, first: dt.date, last: dt.date
) -> tuple[list[StageMove], bool]:
    """The moves stored on the days first to last, summed; False when one of those days does not
    hold the cadence (a day before the first completed touchpoint holds no move of any)."""
    held = set(
        DailyFigure.objects.filter(
            report=stages_report.NAME,
            manager_id=0,
            key=stages_report.key_counted(cadence.pk),
            day__gte=first,
            day__lte=last,
        ).values_list("day", flat=True)
    )
    missing = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    missing = [day for day in missing if day not in held]
    if missing:
        first_done = stages_report.first_day()
        # Day X holds the moves of X - 1: there are none on or before the day of the first completion.
        if first_done is not None and any(day > first_done for day in missing):
            return [], False
    rows = (
        DailyFigure.objects.filter(
            report=stages_report.NAME,
            day__gte=first,
            day__lte=last,
            key__startswith=stages_report.prefix_move(cadence.pk),
        )
        .for_managers(managers)
        .values_list("key")
        .annotate(total=Sum("value"))
        .order_by()
    )
    totals = {stages_report.move_of_key(cadence.pk, key): int(total) for key, total in rows}
    return stage_moves_counted(cadence=cadence, moves=totals), True
