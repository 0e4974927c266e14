"""Admin for the background jobs: every run (read-only) and a "Jobs" page with each task's latest run.

The rows are written by the Celery signal handlers in nurture/services/job_runs.py; nobody edits them here.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.html import format_html

from campaigns.selectors.planner_health import planner_health
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


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin[JobRun]):
    list_display = ["task_name", "status_badge", "started_at", "duration", "summary_text", "worker"]
    list_filter = ["status", "task_name"]
    search_fields = ["=task_id", "task_name", "worker"]
    show_full_result_count = False
    list_per_page = 100
    fields = readonly_fields = (
        "task_name",
        "task_id",
        "status",
        "worker",
        "started_at",
        "finished_at",
        "duration",
        "summary_text",
        "error",
    )

    def get_urls(self) -> list[URLPattern]:
        return [
            path("jobs/", self.admin_site.admin_view(self.jobs_view), name="nurture_jobrun_jobs"),
            *super().get_urls(),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: JobRun) -> str:
        colour = {"failed": "#ba2121", "retrying": "#b26a00", "running": "#205067"}.get(obj.status, "#2f7d32")
        return format_html('<strong style="color: {}">{}</strong>', colour, obj.get_status_display())

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: JobRun) -> str:
        return describe_duration(obj.duration_ms)

    @admin.display(description="what it did")
    def summary_text(self, obj: JobRun) -> str:
        return describe_summary(obj.summary)

    def jobs_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Jobs",
            "opts": self.opts,
            "rows": job_rows(),
            "planner": planner_health(),
        }
        return TemplateResponse(request, "admin/nurture/jobrun/jobs.html", context)
