"""The job log: one row per Celery task run (written by nurture.services.job_runs)."""

from __future__ import annotations

import datetime as dt
from typing import Self

from django.db import connections, models
from django.db.models import Count, OuterRef, Q, Subquery


class JobRunQuerySet(models.QuerySet["JobRun"]):
    def for_task(self, task_name: str) -> Self:
        return self.filter(task_name=task_name)

    def failed(self) -> Self:
        return self.filter(status="failed")

    def since(self, moment: dt.datetime) -> Self:
        return self.filter(started_at__gte=moment)

    def latest_per_task(self) -> Self:
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

    def older_than(self, moment: dt.datetime) -> Self:
        """Finished runs (succeeded or failed) started before `moment`: what pruning may remove. A
        run still running, or waiting for its retry (whose row the retry updates), is never one."""
        return self.filter(started_at__lt=moment, status__in=("succeeded", "failed"))

    def _db_vendor(self) -> str:
        return str(connections[self.db].vendor)


class JobRun(models.Model):
    """One run of a background job, recorded by the Celery signal handlers in nurture/services/job_runs.py."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        RETRYING = "retrying", "Retrying"

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="What the job did, e.g. counts.")
    error = models.TextField(blank=True)

    objects = JobRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # The jobs page: the latest run of each task (JobRunQuerySet.latest_per_task()).
            models.Index(fields=["task_name", "-started_at"], name="jobrun_task_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} at {self.started_at.isoformat()} ({self.status})"
