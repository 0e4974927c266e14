"""The planner's health: when the last sweep completed, and whether that is too long ago."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from campaigns.models import PlannerRun

# Used when settings.NURTURE_PLANNER_STALE_HOURS is not set.
DEFAULT_PLANNER_STALE_HOURS = 3.0


def planner_stale_hours() -> float:
    """How long the planner may go without completing a sweep before it counts as stale."""
    return float(getattr(settings, "NURTURE_PLANNER_STALE_HOURS", DEFAULT_PLANNER_STALE_HOURS))


@dataclass(frozen=True)
class PlannerHealth:
    """When the last planning sweep completed, judged at `checked_at`."""

    last_completed: dt.datetime | None
    stale_after_hours: float
    checked_at: dt.datetime

    @property
    def ok(self) -> bool:
        if self.last_completed is None:
            return False
        return self.checked_at - self.last_completed <= dt.timedelta(hours=self.stale_after_hours)

    @property
    def stale(self) -> bool:
        return not self.ok

    @property
    def hours_since(self) -> float | None:
        if self.last_completed is None:
            return None
        return max((self.checked_at - self.last_completed).total_seconds() / 3600, 0.0)


def last_completed_sweep_at() -> dt.datetime | None:
    """The end of the latest completed planning sweep: one index lookup (plannerrun_scope_finished)."""
    latest: dt.datetime | None = PlannerRun.objects.completed_sweeps().aggregate(latest=Max("finished_at"))["latest"]
    return latest


def planner_health_from(last_completed: dt.datetime | None, *, now: dt.datetime | None = None) -> PlannerHealth:
    """Judge a last completion read earlier (and perhaps cached) against the clock now."""
    return PlannerHealth(
        last_completed=last_completed, stale_after_hours=planner_stale_hours(), checked_at=now or timezone.now()
    )


def planner_health(*, now: dt.datetime | None = None) -> PlannerHealth:
    return planner_health_from(last_completed_sweep_at(), now=now)
