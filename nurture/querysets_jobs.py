"""Reads of the background jobs' records (JobRun) and of the planner's health."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

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
    from campaigns.models import PlannerRun

    latest: dt.datetime | None = PlannerRun.objects.filter(
        scope=PlannerRun.Scope.SWEEP, finished_at__isnull=False
    ).aggregate(latest=Max("finished_at"))["latest"]
    return latest


def planner_health_from(last_completed: dt.datetime | None, *, now: dt.datetime | None = None) -> PlannerHealth:
    """Judge a last completion read earlier (and perhaps cached) against the clock now."""
    return PlannerHealth(
        last_completed=last_completed, stale_after_hours=planner_stale_hours(), checked_at=now or timezone.now()
    )


def planner_health(*, now: dt.datetime | None = None) -> PlannerHealth:
    return planner_health_from(last_completed_sweep_at(), now=now)


class JobRunQuerySet(models.QuerySet[Any]):
    def for_task(self, task_name: str) -> JobRunQuerySet:
        return self.filter(task_name=task_name)

    def failed(self) -> JobRunQuerySet:
        return self.filter(status="failed")

    def since(self, moment: dt.datetime) -> JobRunQuerySet:
        return self.filter(started_at__gte=moment)

    def latest_per_task(self) -> JobRunQuerySet:
        """The latest run of each task, by task name (index jobrun_task_latest)."""
        if self._db_vendor() == "postgresql":
            return self.order_by("task_name", "-started_at").distinct("task_name")
        latest = self.model.objects.filter(task_name=OuterRef("task_name")).order_by("-started_at").values("pk")[:1]
        return self.filter(pk=Subquery(latest)).order_by("task_name")

    def counts_since(self, moment: dt.datetime) -> dict[str, tuple[int, int]]:
        """Per task name: (runs, failed runs) started since `moment`."""
        rows = (
            self.since(moment)
            .order_by()
            .values("task_name")
            .annotate(runs=Count("id"), failures=Count("id", filter=Q(status="failed")))
        )
        return {row["task_name"]: (int(row["runs"]), int(row["failures"])) for row in rows}

    def older_than(self, moment: dt.datetime) -> JobRunQuerySet:
        """Finished runs started before `moment` (what pruning removes)."""
        return self.filter(started_at__lt=moment).exclude(status="running")

    def _db_vendor(self) -> str:
        from django.db import connections

        return str(connections[self.db].vendor)
