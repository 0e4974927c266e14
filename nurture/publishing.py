"""Queueing Celery tasks: after the commit, one quick attempt, never failing a committed request.

Every task that a change asks for is published once the change commits (a rolled-back change
queues nothing). By then the data is committed, so a broker (Redis) that is down or hung must not
turn the request into an error page: a publish here is a single attempt (no kombu retry loop),
bounded by the broker's connect and socket timeouts (settings: CELERY_BROKER_TRANSPORT_OPTIONS),
and a failure is logged, not raised.

Nothing is lost for good: every kind of work queued this way has a periodic job (Beat) that finds
it from the database. The planner's hourly sweep re-plans every customer and milestone changed
since the last completed sweep, webhook events wait in their outbox for the periodic dispatch,
stalled print batches are queued again, the leads' alerts still unsent are sent, cards still
unchecked are checked, CSV imports still waiting have their step queued again (docs/operations.md,
"When Redis is down at a commit").

Inside a worker (a task that queues its follow-up work) the failure is raised after it is logged:
the task fails, and its own retry policy runs it again sooner than the periodic job would (every
task is idempotent).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import Task, current_app
from django.db import transaction
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What a broker that is down, hung or refusing raises: kombu wraps the errors of connecting, and
# a connection that died after it was pooled raises the client's own (redis-py's, OSError's).
PUBLISH_ERRORS: tuple[type[BaseException], ...] = (KombuError, RedisError, OSError)


def _in_worker() -> bool:
    return current_app.current_worker_task is not None


def publish(task: Task[Any, Any] | str, *args: Any, **kwargs: Any) -> bool:
    """Send a task (or a task name) to the broker now, in one attempt. True when it was sent.

    A broker error is logged with the task's name and arguments and returns False; in a worker's
    task it is raised, so that the task's own retries try again.
    """
    app = current_app
    name = task if isinstance(task, str) else task.name
    if app.conf.task_always_eager and not isinstance(task, str):  # run here and now (tests, debugging)
        task.apply_async(args, kwargs)
        return True
    try:
        with app.producer_or_acquire() as producer:
            # One connection attempt: kombu would otherwise keep trying for broker_connection_timeout.
            producer.connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=None)
            if isinstance(task, str):
                app.send_task(task, args=args, kwargs=kwargs, producer=producer, retry=False)
            else:
                task.apply_async(args, kwargs, producer=producer, retry=False)
    except PUBLISH_ERRORS as exc:
        log.warning(
            "task %s%r not queued, the broker failed (the periodic jobs will pick the work up): %s: %s",
            name,
            args,
            type(exc).__name__,
            exc,
        )
        if _in_worker():
            raise
        return False
    return True


def publish_on_commit(task: Task[Any, Any] | str, *args: Any, **kwargs: Any) -> None:
    """Publish the task once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(publish, task, *args, **kwargs))
