"""ImportJob: one CSV import in the background, from upload to done (nurture.services.import_jobs)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Self

from django.conf import settings
from django.db import models


def import_file_name(instance: Any, filename: str) -> str:
    """Under MEDIA_ROOT/imports/ (default_storage, which a worker on another machine reads too), with a
    random name: the uploader's file name is kept apart, in original_name."""
    return f"imports/{secrets.token_hex(16)}.csv"


class ImportJobQuerySet(models.QuerySet["ImportJob"]):
    def uploaded_by(self, user: Any) -> Self:
        """A user's own imports: nobody else sees an upload's rows or confirms it."""
        return self.filter(uploaded_by=user)

    def with_files_older_than(self, moment: dt.datetime) -> Self:
        """Imports created before `moment` whose file is still stored (what the sweep removes)."""
        return self.filter(created_at__lt=moment).exclude(file="")


class ImportJob(models.Model):
    """A CSV file to import: checked (a dry run) by a worker, confirmed by its uploader, imported by a
    worker, all rows or none.

    queued -> checking -> checked -> importing -> done; a file with bad rows, or an import that
    finds them, ends in failed with every bad row in ``problems``. ``attempt`` is the claim of the
    worker at work (a conditional UPDATE sets it), so a task delivered twice does nothing twice.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        CHECKING = "checking", "Checking"
        CHECKED = "checked", "Checked"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    file = models.FileField(upload_to=import_file_name, max_length=200, blank=True)
    original_name = models.CharField(max_length=255, help_text="The file's name on the uploader's computer.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    step = models.CharField(max_length=100, blank=True, help_text="What the worker is doing now.")
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True, help_text="The dry run's counts (ImportResult).")
    preview = models.JSONField(default=list, blank=True, help_text="The first rows that would change.")
    result = models.JSONField(default=dict, blank=True, help_text="The import's counts, once done.")
    problems = models.JSONField(
        default=list, blank=True, help_text="Every bad row: [line, column, message]; line 0 is the header."
    )
    error = models.TextField(blank=True, help_text="An unexpected failure, for the administrator.")
    attempt = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Only the states the services move a job through.
            models.CheckConstraint(
                condition=models.Q(state__in=["queued", "checking", "checked", "importing", "done", "failed"]),
                name="importjob_state_valid",
            ),
            # Progress never runs past the total it counts towards.
            models.CheckConstraint(
                condition=models.Q(rows_done__lte=models.F("rows_total")), name="importjob_progress"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_state_display().lower()})"

    @property
    def working(self) -> bool:
        """A worker has (or will have) something to do: the page follows its progress."""
        return self.state in (self.State.QUEUED, self.State.CHECKING, self.State.IMPORTING)

    @property
    def percent(self) -> int:
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0
