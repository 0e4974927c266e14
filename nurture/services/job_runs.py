"""Every Celery task run, recorded: one JobRun row and one structured log line.

The handlers are connected to Celery's task signals in NurtureConfig.ready(), so they run in
whichever process runs the task (a worker's pool process, or the caller when tasks are eager).

- A run is claimed by its task id (unique): a task retried, or delivered again after its worker
  died before acknowledging it, keeps its id, so its row is updated, never duplicated. A row left
  "running" is a run whose worker died; the redelivery turns it into the real outcome.
- When a run ends, one log line on the ``nurture.services.job_runs`` logger carries a JSON object: task, id,
  status, duration_ms, summary (counts, from the task's return value), worker, retries, error.
  Filter a worker's output on ``"event": "job_run"`` (docs/operations.md, "Job logs").
- Recording never fails a task: a database error while recording (PostgreSQL restarting) is
  logged and the task goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celery import signals
from django.db import DatabaseError, InterfaceError, connections, transaction
from django.utils import timezone

from nurture.models import JobRun

log = logging.getLogger("nurture.services.job_runs")

# The admin shows the summary: keep it small.
_SUMMARY_MAX_ITEMS = 20
_ERROR_MAX_CHARS = 10_000

_STATUS_BY_STATE = {"SUCCESS": "succeeded", "IGNORED": "succeeded", "RETRY": "retrying", "FAILURE": "failed"}


@dataclass
class _Attempt:
    """What the handlers of one run share, in the process that runs it."""

    started: float
    started_at: dt.datetime
    task_name: str
    worker: str
    retries: int
    error: str = ""


_attempts: dict[str, _Attempt] = {}
_lock = threading.Lock()


def summarise(retval: Any) -> dict[str, Any]:
    """A task's return value as a small JSON object: the task's own dict of counts ("created": 120,
    not "result": 120), or for a task of another kind its bare value under "result"."""
    if isinstance(retval, Mapping):
        items = list(retval.items())[:_SUMMARY_MAX_ITEMS]
        return {str(key): _jsonable(value) for key, value in items}
    if retval is None:
        return {}
    if isinstance(retval, tuple | list):
        return {"result": [_jsonable(value) for value in list(retval)[:_SUMMARY_MAX_ITEMS]]}
    return {"result": _jsonable(retval)}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value[:_SUMMARY_MAX_ITEMS]]
    return str(value)


def _record(task_id: str, *, create: Mapping[str, Any], update: Mapping[str, Any]) -> None:
    """Write the run's row; a failure is logged, never raised into the task."""
    try:
        # A savepoint when an eager task runs inside a transaction: a failed write here must not
        # break the caller's transaction.
        with transaction.atomic():
            JobRun.objects.update_or_create(task_id=task_id, defaults=dict(update), create_defaults=dict(create))
    except (DatabaseError, InterfaceError) as exc:
        log.warning("could not record job run %s: %s: %s", task_id, type(exc).__name__, exc)
        _drop_broken_connections()


def _drop_broken_connections() -> None:
    # After PostgreSQL restarted the connection is dead; close it so that the task (or the next
    # one) connects again instead of failing on it. Never inside a transaction: that is the caller's.
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def _worker_name(task: Any) -> str:
    hostname = getattr(getattr(task, "request", None), "hostname", None)
    return str(hostname or "")


def on_task_prerun(sender: Any = None, task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id is None or task is None:
        return
    now = timezone.now()
    request = getattr(task, "request", None)
    attempt = _Attempt(
        started=time.monotonic(),
        started_at=now,
        task_name=str(task.name),
        worker=_worker_name(task),
        retries=int(getattr(request, "retries", 0) or 0),
    )
    with _lock:
        _attempts[task_id] = attempt
    fields = {
        "task_name": attempt.task_name,
        "status": "running",
        "worker": attempt.worker,
        "started_at": now,
        "finished_at": None,
        "duration_ms": None,
        "error": "",
    }
    _record(task_id, create={**fields, "summary": {}}, update=fields)


def on_task_failure(
    sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, **kwargs: Any
) -> None:
    if task_id is None:
        return
    einfo = kwargs.get("einfo")
    text = f"{type(exception).__name__}: {exception}" if exception is not None else "failed"
    traceback = str(getattr(einfo, "traceback", "") or "")
    with _lock:
        attempt = _attempts.get(task_id)
        if attempt is not None:
            attempt.error = f"{text}\n\n{traceback}".strip() if traceback else text


def on_task_retry(sender: Any = None, request: Any = None, reason: Any = None, **kwargs: Any) -> None:
    task_id = getattr(request, "id", None)
    if task_id is None:
        return
    with _lock:
        attempt = _attempts.get(task_id)
        if attempt is not None:
            attempt.error = f"retrying: {reason}"


def on_task_postrun(
    sender: Any = None,
    task_id: str | None = None,
    task: Any = None,
    retval: Any = None,
    state: str | None = None,
    **kwargs: Any,
) -> None:
    if task_id is None or task is None:
        return
    now = timezone.now()
    with _lock:
        attempt = _attempts.pop(task_id, None)
    if attempt is None:  # prerun never saw it (should not happen): still record the outcome
        attempt = _Attempt(
            started=time.monotonic(), started_at=now, task_name=str(task.name), worker=_worker_name(task), retries=0
        )
    duration_ms = max(int((time.monotonic() - attempt.started) * 1000), 0)
    status = _STATUS_BY_STATE.get(state or "", "failed")
    summary = summarise(retval) if status == "succeeded" else {}
    if attempt.retries:
        summary["retries"] = attempt.retries
    error = attempt.error if status != "succeeded" else ""
    if status == "failed" and not error:
        error = f"ended in state {state}"
    fields = {
        "status": status,
        "worker": attempt.worker,
        "finished_at": now,
        "duration_ms": duration_ms,
        "summary": summary,
        "error": error[:_ERROR_MAX_CHARS],
    }
    _record(task_id, create={**fields, "task_name": attempt.task_name, "started_at": attempt.started_at}, update=fields)
    line = {
        "event": "job_run",
        "task": attempt.task_name,
        "id": task_id,
        "status": status,
        "duration_ms": duration_ms,
        "summary": summary,
        "worker": attempt.worker,
        "retries": attempt.retries,
        "started_at": attempt.started_at.isoformat(),
    }
    if error:
        line["error"] = error.splitlines()[0][:500]
    level = logging.ERROR if status == "failed" else logging.WARNING if status == "retrying" else logging.INFO
    log.log(level, json.dumps(line, default=str))


def connect_signals() -> None:
    """Connect the handlers (idempotent: NurtureConfig.ready() may run more than once in tests)."""
    signals.task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="nurture.services.job_runs.prerun")
    signals.task_failure.connect(on_task_failure, weak=False, dispatch_uid="nurture.services.job_runs.failure")
    signals.task_retry.connect(on_task_retry, weak=False, dispatch_uid="nurture.services.job_runs.retry")
    signals.task_postrun.connect(on_task_postrun, weak=False, dispatch_uid="nurture.services.job_runs.postrun")
