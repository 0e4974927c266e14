"""Celery tasks: thin wrappers that load ids and call the services.

Every task is idempotent and acknowledged late (settings: CELERY_TASK_ACKS_LATE), so a worker
killed half-way leaves the message to be delivered again and the re-run changes nothing twice.
"""

import datetime as dt
from functools import partial

from celery import shared_task
from django.db import transaction

from campaigns import digest, planning


@shared_task(name="campaigns.tasks.plan_sweep")
def plan_sweep() -> int:
    """Start a sweep and fan its chunks out to the workers."""
    run = planning.start_sweep()
    for index in range(run.chunk_count):
        transaction.on_commit(partial(plan_chunk.delay, run.pk, index))
    if run.chunk_count == 0:
        planning.finish_run_if_complete(run.pk)
    return run.pk


@shared_task(
    name="campaigns.tasks.plan_chunk",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=5,
)
def plan_chunk(run_id: int, index: int) -> tuple[int, int]:
    return planning.run_chunk(run_id=run_id, index=index)


@shared_task(name="campaigns.tasks.replan_customers", autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def replan_customers(customer_ids: list[int]) -> int:
    return planning.plan_customers(customer_ids).created


@shared_task(name="campaigns.tasks.send_digests")
def send_digests() -> int:
    """Fan out one digest per account manager with something due."""
    today = digest.digest_date()
    user_ids = digest.recipients()
    for user_id in user_ids:
        transaction.on_commit(partial(send_digest.delay, user_id, today.isoformat()))
    return len(user_ids)


@shared_task(name="campaigns.tasks.send_digest", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def send_digest(user_id: int, date: str) -> bool:
    return digest.send_digest(user_id=user_id, date=dt.date.fromisoformat(date))
