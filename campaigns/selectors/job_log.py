"""The Jobs page: each Celery task's latest run and its last day, from the job log (JobRun)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.utils import timezone

from nurture.models import JobRun

# A run still "running" after this long most likely lost its worker (it is delivered again).
RUNNING_SUSPECT_AFTER = dt.timedelta(hours=1)


def describe_duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def describe_summary(summary: Any) -> str:
    if not summary:
        return ""
    if isinstance(summary, dict):
        parts = (f"{key} {value if isinstance(value, str) else json.dumps(value)}" for key, value in summary.items())
        return ", ".join(parts)
    return json.dumps(summary)


@dataclass
class TaskRow:
    """One line of the Jobs page."""

    task_name: str
    latest: JobRun | None
    runs_24h: int
    failures_24h: int

    @property
    def duration(self) -> str:
        return describe_duration(self.latest.duration_ms if self.latest else None)

    @property
    def summary(self) -> str:
        return describe_summary(self.latest.summary) if self.latest else ""

    @property
    def suspect(self) -> bool:
        """Still running long after it started: its worker probably died."""
        latest = self.latest
        return bool(
            latest is not None
            and latest.status == JobRun.Status.RUNNING
            and timezone.now() - latest.started_at > RUNNING_SUSPECT_AFTER
        )


def registered_task_names() -> set[str]:
    """The application's Celery tasks (Celery's own excluded), so that one that never ran shows."""
    return {name for name in current_app.tasks if not name.startswith("celery.")}


def job_rows(*, now: dt.datetime | None = None) -> list[TaskRow]:
    since = (now or timezone.now()) - dt.timedelta(hours=24)
    latest = {run.task_name: run for run in JobRun.objects.latest_per_task()}
    counts = JobRun.objects.counts_since(since)
    names = sorted(set(latest) | set(counts) | registered_task_names())
    return [
        TaskRow(
            task_name=name,
            latest=latest.get(name),
            runs_24h=counts.get(name, (0, 0))[0],
            failures_24h=counts.get(name, (0, 0))[1],
        )
        for name in names
    ]
