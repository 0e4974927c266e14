"""Celery tasks of the customer side: thin wrappers that take an ImportJob's id and call a service.

The services (nurture.services.import_jobs) queue them by name once the job's transaction
commits, and claim the job with a conditional UPDATE: a task delivered twice, or run again after
its worker died, never imports twice. A job another worker still holds is "busy": the task tries
again later, when that worker has finished it or has been silent for STALE_AFTER (and so died).
Routed to the default queue (settings: CELERY_TASK_ROUTES).
"""

import datetime as dt
from typing import Any

from celery import Task, shared_task

from nurture.services import api_tokens, import_jobs, referrals

Summary = dict[str, Any]

# A busy job is looked at again this often, this many times.
_BUSY_RETRY_SECONDS = int(import_jobs.STALE_AFTER.total_seconds())
_BUSY_RETRIES = 4


@shared_task(bind=True, name=import_jobs.CHECK_TASK, max_retries=_BUSY_RETRIES)
def check_import(self: Task[Any, Any], job_id: int) -> Summary:
    """The dry run of an uploaded file: every row checked, what importing would change."""
    outcome = import_jobs.import_job_check(job_id=job_id)
    if outcome == import_jobs.OUTCOME_BUSY:
        raise self.retry(countdown=_BUSY_RETRY_SECONDS)
    return {"job": job_id, "outcome": outcome}


@shared_task(bind=True, name=import_jobs.RUN_TASK, max_retries=_BUSY_RETRIES)
def run_import(self: Task[Any, Any], job_id: int) -> Summary:
    """The import of a confirmed file, all rows or none."""
    outcome = import_jobs.import_job_run(job_id=job_id)
    if outcome == import_jobs.OUTCOME_BUSY:
        raise self.retry(countdown=_BUSY_RETRY_SECONDS)
    return {"job": job_id, "outcome": outcome}


@shared_task(name="nurture.tasks.resume_imports")
def resume_imports(idle_seconds: float | None = None) -> Summary:
    """Beat, every five minutes: queue again the check or import of jobs whose task was lost."""
    idle = import_jobs.RESUME_AFTER if idle_seconds is None else dt.timedelta(seconds=idle_seconds)
    return {"resumed": import_jobs.import_jobs_resume_stalled(idle_for=idle)}


@shared_task(name="nurture.tasks.warn_expiring_api_tokens")
def warn_expiring_api_tokens() -> Summary:
    """Daily: e-mail the owners of API tokens that expire within 14 days (once per token)."""
    return {"warned": api_tokens.api_tokens_warn_expiring()}


@shared_task(name="nurture.tasks.qualify_referrals")
def qualify_referrals() -> Summary:
    """Hourly: pending referrals whose review period has ended qualify (idempotent, SKIP LOCKED)."""
    return {"qualified": referrals.referrals_qualify_due()}
