"""The CSV import in the background: an ImportJob from upload to done, all rows or none.

The request only stores the file (default_storage, under MEDIA_ROOT/imports/, so that a worker on
another machine reads it too) and queues the check; a worker runs the dry run, the uploader
confirms what it would do, a worker imports. Every step is nurture.services.importing's own.

- ``import_job_create``: store the upload, queue the check (state queued).
- ``import_job_check``: the dry run (checking -> checked, or failed with every bad row).
- ``import_job_confirm``: the uploader confirms a checked job within CONFIRM_WITHIN; queues the
  import (state importing).
- ``import_job_run``: the import, one transaction that also marks the job done; then the stored
  file is removed.

A worker claims a job with a conditional UPDATE that sets ``attempt`` to a token of its own, and
writes its results only where the token is still its own: a task delivered twice finds the job
claimed (or finished) and does nothing, and an import is never applied twice. A claim whose
worker died (no heartbeat for STALE_AFTER) may be taken over; the task of a job still at work
says "busy" and is retried later (nurture.tasks).

The services ask for the tasks by their names (CHECK_TASK, RUN_TASK, which nurture.tasks defines),
once the transaction that made the job commits: services never import the tasks.

A task that was never queued (Redis down at the commit: nurture/publishing.py) or that went with
its worker is not lost: the job's state says what is owed. ``import_jobs_resume_stalled`` (Beat,
every five minutes: nurture.tasks.resume_imports) queues again the check of a job still queued,
the import of a job confirmed but never taken, and the step of a job whose worker has been silent
for STALE_AFTER, once the job has not changed for RESUME_AFTER. Queueing again is claimed by a
conditional UPDATE of the job's updated_at, so two runs at once queue a job once, and a job is
queued again at most once per RESUME_AFTER; the task's own claim makes a second delivery harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import asdict
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Q
from django.utils import timezone

from nurture.models import ImportJob
from nurture.publishing import publish_on_commit
from nurture.services.importing import ImportFailed, ImportResult, import_customers

log = logging.getLogger(__name__)

CHECK_TASK = "nurture.tasks.check_import"
RUN_TASK = "nurture.tasks.run_import"
# Progress is written every this many rows (and at every step).
PROGRESS_EVERY = 1000
# A claim with no heartbeat for this long belongs to a worker that died.
STALE_AFTER = dt.timedelta(minutes=30)
# A dry run may be confirmed for this long; after that the file is uploaded again.
CONFIRM_WITHIN = dt.timedelta(hours=1)
# Stored files of imports older than this are removed (the next upload sweeps them).
KEEP_FILES = dt.timedelta(days=1)
# A job that has not changed for this long while a task is owed lost it: queue it again.
RESUME_AFTER = dt.timedelta(minutes=10)
# The preview lists this many of the rows that change.
PREVIEW_ROWS = 50

QUEUED, CHECKING, CHECKED = ImportJob.State.QUEUED, ImportJob.State.CHECKING, ImportJob.State.CHECKED
IMPORTING, DONE, FAILED = ImportJob.State.IMPORTING, ImportJob.State.DONE, ImportJob.State.FAILED

# What the worker's services return (the tasks' summaries).
OUTCOME_CHECKED, OUTCOME_DONE, OUTCOME_FAILED = "checked", "done", "failed"
OUTCOME_BUSY = "busy"  # another worker holds the job: try again later
OUTCOME_NOTHING = "nothing"  # already done by someone, or gone


class ImportJobError(ValueError):
    """The job cannot take this step; the message says why, for a person."""


def _now() -> dt.datetime:
    return timezone.now()


# --- The request's side ---------------------------------------------------------------------------


def import_job_create(*, upload: File[Any], by: Any) -> ImportJob:
    """Store the uploaded file and queue its check. Nothing is read or imported here."""
    import_jobs_sweep()
    job = ImportJob(uploaded_by=by, original_name=str(upload.name or "import.csv")[:255])
    job.file.save(str(upload.name or "import.csv"), upload, save=False)
    job.save()
    publish_on_commit(CHECK_TASK, job.pk)
    return job


def import_job_confirm(*, job: ImportJob, by: Any) -> ImportJob:
    """Import a checked job's file (queued for a worker). Raises ImportJobError when it may not:
    someone else's upload, not checked (or with bad rows), checked too long ago, already
    confirmed, or a file that would change nothing."""
    now = _now()
    if job.state == CHECKED and not ImportResult.from_counts(job.summary).changing:
        raise ImportJobError("Importing this file would change nothing.")
    confirmed = ImportJob.objects.filter(
        pk=job.pk, uploaded_by=by, state=CHECKED, checked_at__gte=now - CONFIRM_WITHIN
    ).update(state=IMPORTING, confirmed_at=now, attempt="", step="", rows_done=0, updated_at=now)
    if not confirmed:
        raise ImportJobError(_why_not_confirmed(ImportJob.objects.get(pk=job.pk), by))
    publish_on_commit(RUN_TASK, job.pk)
    job.refresh_from_db()
    return job


def _why_not_confirmed(job: ImportJob, by: Any) -> str:
    if job.uploaded_by_id != getattr(by, "pk", None):
        return "Only the person who uploaded a file imports it."
    if job.state in (IMPORTING, DONE):
        return "This file is already imported, or being imported."
    if job.state != CHECKED:
        return "This file cannot be imported: see its check."
    return "The preview has expired: upload the file again."


def import_jobs_sweep(*, now: dt.datetime | None = None) -> int:
    """Remove the stored files of imports older than KEEP_FILES. Returns how many."""
    swept = 0
    for job in ImportJob.objects.with_files_older_than((now or _now()) - KEEP_FILES).only("pk", "file"):
        _remove_file(job)
        swept += 1
    return swept


def _remove_file(job: ImportJob) -> None:
    name = job.file.name
    if name:
        try:
            default_storage.delete(name)
        except OSError:
            log.warning("import job %s: could not remove %s", job.pk, name)
            return
        ImportJob.objects.filter(pk=job.pk, file=name).update(file="")


def _owed_a_task(now: dt.datetime) -> Q:
    """Jobs a worker should be at: queued (the check), confirmed and never taken (the import), or
    taken by a worker silent for STALE_AFTER (it died; the task's claim takes the job over)."""
    never_taken = Q(state=QUEUED) | Q(state=IMPORTING, attempt="")
    abandoned = Q(state__in=(CHECKING, IMPORTING), heartbeat_at__lt=now - STALE_AFTER)
    return never_taken | abandoned


def import_jobs_resume_stalled(*, now: dt.datetime | None = None, idle_for: dt.timedelta = RESUME_AFTER) -> int:
    """Queue again the task of every job owed one that has not changed for `idle_for`. Returns how
    many were queued. In a worker a broker that fails raises (the job waits for the next run)."""
    now = now or _now()
    resumed = 0
    stalled = ImportJob.objects.filter(_owed_a_task(now), updated_at__lt=now - idle_for).order_by("pk")
    for pk, state, updated_at in stalled.values_list("pk", "state", "updated_at"):
        # The claim: the job as it was read, unchanged since; it now waits RESUME_AFTER again.
        if not ImportJob.objects.filter(_owed_a_task(now), pk=pk, updated_at=updated_at).update(updated_at=now):
            continue  # a worker took it meanwhile, or another run queued it
        task = RUN_TASK if state == IMPORTING else CHECK_TASK
        log.warning("import job %s: %s, unchanged since %s: queued %s again", pk, state, updated_at.isoformat(), task)
        publish_on_commit(task, pk)
        resumed += 1
    return resumed


# --- The worker's side ----------------------------------------------------------------------------


def _claim(job_id: int, condition: Q, **fields: Any) -> str | None:
    """Take the job with a conditional UPDATE; returns the claim's token, or None when taken."""
    attempt = secrets.token_hex(16)
    now = _now()
    claimed = ImportJob.objects.filter(condition, pk=job_id).update(
        attempt=attempt, heartbeat_at=now, updated_at=now, **fields
    )
    return attempt if claimed else None


def _stale() -> Q:
    return Q(heartbeat_at__lt=_now() - STALE_AFTER)


def _unclaimed_outcome(job_id: int, working: str) -> str:
    """Why a claim failed: another worker is at this step ("busy"), or there is nothing to do."""
    state = ImportJob.objects.filter(pk=job_id).values_list("state", flat=True).first()
    return OUTCOME_BUSY if state == working else OUTCOME_NOTHING


def _finish(job_id: int, attempt: str, **fields: Any) -> bool:
    """Write a claimed job's outcome, if the claim is still this worker's."""
    now = _now()
    return bool(
        ImportJob.objects.filter(pk=job_id, attempt=attempt).update(step="", heartbeat_at=now, updated_at=now, **fields)
    )


def _problems(exc: ImportFailed) -> list[list[Any]]:
    return [[error.line, error.column, error.message] for error in exc.errors]


class _FileGone(Exception):
    MESSAGE = "The uploaded file is gone (removed after a day): upload it again."


def _read(job: ImportJob) -> bytes:
    if not job.file.name:
        raise _FileGone
    try:
        with default_storage.open(job.file.name, "rb") as stored:
            data: bytes = stored.read()
    except FileNotFoundError:
        raise _FileGone from None
    return data


def _failed_unexpectedly(job_id: int, attempt: str, exc: Exception) -> None:
    """Record an unexpected failure on the job (if the database lets us: it may be the cause)."""
    try:
        _finish(job_id, attempt, state=FAILED, error=f"{type(exc).__name__}: {exc}"[:10_000], finished_at=_now())
    except DatabaseError:
        log.exception("import job %s: the failure could not be recorded", job_id)


def import_job_check(*, job_id: int) -> str:
    """The dry run of a queued job: checked (with the preview) or failed (with every bad row)."""
    attempt = _claim(job_id, Q(state=QUEUED) | (Q(state=CHECKING) & _stale()), state=CHECKING, step="Reading the file")
    if attempt is None:
        return _unclaimed_outcome(job_id, CHECKING)
    progress = JobProgress(job_id, attempt)
    try:
        job = ImportJob.objects.get(pk=job_id)
        try:
            data = _read(job)
        except _FileGone:
            _finish(job_id, attempt, state=FAILED, error=_FileGone.MESSAGE, finished_at=_now())
            return OUTCOME_FAILED
        try:
            result = import_customers(data=data, dry_run=True, progress=progress, preview_rows=PREVIEW_ROWS)
        except ImportFailed as exc:
            _finish(job_id, attempt, state=FAILED, problems=_problems(exc), finished_at=_now())
            _remove_file(job)
            return OUTCOME_FAILED
        checked = _finish(
            job_id,
            attempt,
            state=CHECKED,
            summary=result.counts(),
            preview=[asdict(row) for row in result.changes],
            rows_total=result.rows,
            rows_done=result.rows,
            checked_at=_now(),
        )
        return OUTCOME_CHECKED if checked else OUTCOME_NOTHING
    except Exception as exc:
        _failed_unexpectedly(job_id, attempt, exc)
        raise
    finally:
        progress.close()


class _ClaimLost(Exception):
    """Another worker took the job over: this one's import is rolled back."""


def import_job_run(*, job_id: int) -> str:
    """The import of a confirmed job: one transaction writes every row and marks the job done."""
    attempt = _claim(job_id, Q(state=IMPORTING) & (Q(attempt="") | _stale()), step="Reading the file")
    if attempt is None:
        return _unclaimed_outcome(job_id, IMPORTING)
    progress = JobProgress(job_id, attempt)

    def mark_done(result: ImportResult) -> None:
        # Inside the import's transaction: the job is done exactly when its rows are written.
        progress.close()  # nothing else may write the job's row now
        done = _finish(
            job_id,
            attempt,
            state=DONE,
            result=result.counts(),
            rows_total=result.rows,
            rows_done=result.rows,
            finished_at=_now(),
        )
        if not done:
            raise _ClaimLost

    try:
        job = ImportJob.objects.get(pk=job_id)
        try:
            data = _read(job)
        except _FileGone:
            _finish(job_id, attempt, state=FAILED, error=_FileGone.MESSAGE, finished_at=_now())
            return OUTCOME_FAILED
        try:
            result = import_customers(data=data, dry_run=False, progress=progress, before_commit=mark_done)
        except _ClaimLost:
            log.warning("import job %s: taken over by another worker; this attempt was rolled back", job_id)
            return OUTCOME_NOTHING
        except ImportFailed as exc:
            # The data changed since the check (a user or a milestone kind went away): nothing was written.
            _finish(
                job_id,
                attempt,
                state=FAILED,
                problems=_problems(exc),
                error="Nothing was imported: the file no longer imports cleanly.",
                finished_at=_now(),
            )
            _remove_file(job)
            return OUTCOME_FAILED
        _remove_file(job)
        log.info("import job %s: %s", job_id, result.summary())
        return OUTCOME_DONE
    except Exception as exc:
        _failed_unexpectedly(job_id, attempt, exc)
        raise
    finally:
        progress.close()


# The columns a progress write sets, by field name.
_PROGRESS_COLUMNS: dict[str, Field[Any, Any]] = {
    field.name: field
    for field in ImportJob._meta.concrete_fields
    if field.name in ("step", "rows_total", "rows_done", "heartbeat_at", "updated_at")
}


class JobProgress:
    """A worker's progress on its job's row: at every step and every PROGRESS_EVERY rows.

    Outside a transaction that is an UPDATE of the row, seen at once. Inside the import's
    transaction (all or nothing) an UPDATE of the row would show only after the commit, so on
    PostgreSQL it goes through a connection of its own, committed at once (with a short lock
    timeout: progress never holds the import up). SQLite has one writer at a time: there the page
    shows the step, and its count when the step ends.
    """

    def __init__(self, job_id: int, attempt: str) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.total = 0
        self.written = 0
        self._side: BaseDatabaseWrapper | None = None
        self._side_failed = False

    def step(self, name: str, total: int) -> None:
        self.total, self.written = total, 0
        self._write(step=name[:100], rows_total=total, rows_done=0)

    def advance(self, done: int) -> None:
        if done - self.written >= PROGRESS_EVERY or (done >= self.total and self.written < self.total):
            self.written = min(done, self.total)
            self._write(rows_done=self.written)

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
            self._side = None
        self._side_failed = True  # closed: nothing more goes through a connection of its own

    def _write(self, **fields: Any) -> None:
        now = _now()
        fields.update(heartbeat_at=now, updated_at=now)
        if not connection.in_atomic_block:
            ImportJob.objects.filter(pk=self.job_id, attempt=self.attempt).update(**fields)
        elif connection.vendor == "postgresql" and not self._side_failed:
            self._write_aside(fields)

    def _write_aside(self, fields: dict[str, Any]) -> None:
        try:
            side = self._side_connection()
            columns = [_PROGRESS_COLUMNS[name] for name in fields]
            assignments = ", ".join(f"{side.ops.quote_name(column.column)} = %s" for column in columns)
            values = [column.get_db_prep_save(fields[column.name], connection=side) for column in columns]
            with side.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {side.ops.quote_name(ImportJob._meta.db_table)} SET {assignments} "  # noqa: S608
                    f"WHERE {side.ops.quote_name('id')} = %s AND {side.ops.quote_name('attempt')} = %s",
                    [*values, self.job_id, self.attempt],
                )
        except DatabaseError as exc:
            log.warning("import job %s: progress not recorded (%s); the import goes on", self.job_id, exc)
            self.close()

    def _side_connection(self) -> BaseDatabaseWrapper:
        if self._side is None:
            side = connections.create_connection(DEFAULT_DB_ALIAS)
            with side.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
            self._side = side
        return self._side
