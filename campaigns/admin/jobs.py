"""Admin for the background jobs: every run (read-only) and a "Jobs" page with each task's latest run.

The rows are written by the Celery signal handlers in nurture/services/job_runs.py; nobody edits them here.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

from campaigns.selectors.job_log import describe_duration, describe_summary, job_rows
from campaigns.selectors.planner_health import planner_health
from nurture.admin.base import ReadOnlyAdminMixin
from nurture.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[JobRun]):
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
