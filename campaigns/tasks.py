"""Celery tasks: thin wrappers that take ids, call a service and own their retry policy.

Every task is idempotent and acknowledged late (settings: CELERY_TASK_ACKS_LATE), so a worker
killed half-way leaves the message to be delivered again and the re-run changes nothing twice.
Each returns a small dict of counts, which the job log (nurture.services.job_runs) records as
the run's summary. Task names are explicit: Beat's schedules in the database refer to them.
"""

import datetime as dt
from smtplib import SMTPException
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from django.utils import timezone

from campaigns.models import PlannerChunk
from campaigns.services import (
    alerts,
    digests,
    health,
    idempotency,
    planning,
    pruning,
    report_figures,
    report_packs,
    webhooks,
)
from campaigns.services.batches import (
    BatchError,
    batch_chunks_complete,
    batch_fail,
    batch_finish,
    batch_join_files,
    batch_render_chunk,
    batches_resume_stalled,
)
from campaigns.services.cards import (
    FIT_CHECK_OVERDUE_AFTER,
    cards_check_fit,
    cards_check_fit_overdue,
    cards_follow_touchpoints,
)
from nurture.lib.customer_scope import CustomerScope
from nurture.publishing import publish_on_commit

Summary = dict[str, Any]


@shared_task(name="campaigns.tasks.plan_sweep")
def plan_sweep() -> Summary:
    """Start a sweep and fan its chunks out to the workers."""
    run = planning.start_sweep()
    for index in range(run.chunk_count):
        publish_on_commit(plan_chunk, run.pk, index)
    if run.chunk_count == 0:
        planning.finish_run_if_complete(run.pk)
    return {"planner_run": run.pk}


@shared_task(
    name="campaigns.tasks.plan_chunk",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=5,
)
def plan_chunk(run_id: int, index: int) -> Summary:
    created, cancelled = planning.run_chunk(run_id=run_id, index=index)
    # The chunk's card touchpoints get their cards in a task of their own, so a slow draft never
    # holds up the sweep (and a re-run of the chunk drafts nothing twice: one card per touchpoint).
    publish_on_commit(draft_cards, run_id, index)
    return {"created": created, "cancelled": cancelled}


@shared_task(name="campaigns.tasks.replan_customers", autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def replan_customers(customer_ids: list[int]) -> Summary:
    created = planning.plan_customers(customer_ids).created
    publish_on_commit(draft_cards_for_customers, list(customer_ids))
    return {"created": created}


@shared_task(name="campaigns.tasks.send_digests")
def send_digests() -> Summary:
    """Fan out one digest per account manager with something due."""
    today = digests.digest_date()
    user_ids = digests.recipients()
    for user_id in user_ids:
        publish_on_commit(send_digest, user_id, today.isoformat())
    return {"digests": len(user_ids)}


@shared_task(
    name="campaigns.tasks.send_digest",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=10,
)
def send_digest(user_id: int, date: str) -> Summary:
    return {"sent": digests.send_digest(user_id=user_id, date=dt.date.fromisoformat(date))}


# A mail server that is down or refuses (SMTPException, ConnectionError, timeouts: all OSErrors) is
# retried, backing off (with jitter) from 30 seconds up to an hour, ten times, up to about four hours in all;
# then the run fails, and the job log shows it. The claim is undone on each failure: never silently dropped.
@shared_task(
    name="campaigns.tasks.send_at_risk_alert",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=10,
)
def send_at_risk_alert(touchpoint_id: int) -> Summary:
    return {"sent": alerts.send_at_risk_alert(touchpoint_id=touchpoint_id)}


@shared_task(name="campaigns.tasks.send_overdue_alerts")
def send_overdue_alerts(after_seconds: float | None = None) -> Summary:
    """Beat, every five minutes: the leads' alerts (at risk, entered red) whose task was lost."""
    after = alerts.ALERT_OVERDUE_AFTER if after_seconds is None else dt.timedelta(seconds=after_seconds)
    return alerts.alerts_send_overdue(after=after).as_dict()


# --- The health score (docs/health.md) ---------------------------------------------------------


@shared_task(name="campaigns.tasks.health_sweep")
def health_sweep(as_of: str | None = None, chunk_size: int | None = None) -> Summary:
    """Score every customer for a day (default today): start a run and fan its chunks out."""
    day = dt.date.fromisoformat(as_of) if as_of else timezone.localdate()
    run = health.health_run_start(as_of=day, chunk_size=chunk_size or health.CHUNK_SIZE)
    for index in range(run.chunk_count):
        publish_on_commit(health_chunk, run.pk, index)
    if run.chunk_count == 0:
        health.health_run_finish_if_complete(run.pk)
    return {"health_run": run.pk, "chunks": run.chunk_count}


@shared_task(name="campaigns.tasks.health_chunk", autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def health_chunk(run_id: int, index: int) -> Summary:
    scored, moved = health.health_chunk_run(run_id=run_id, index=index)
    return {"scored": scored, "moved": moved}


@shared_task(
    name="campaigns.tasks.send_health_alert",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=10,
)
def send_health_alert(band_change_id: int) -> Summary:
    return {"sent": alerts.send_health_alert(band_change_id=band_change_id)}


# --- Cards and print batches -----------------------------------------------------------------
# Rendering is long: render_batch_chunk, finish_batch and the fit checks go to their own queue
# ("rendering", see CELERY_TASK_ROUTES in settings) so that they never hold up planning.

# A batch with no progress for this long while a worker is up has lost a message: queue it again.
BATCH_STALL_AFTER = dt.timedelta(minutes=10)


class _BatchTask(Task[Any, Any]):
    """A batch task that, once its retries are spent, fails the batch and frees its cards."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        batch_id = kwargs.get("batch_id", args[0] if args else None)
        if batch_id is not None:
            batch_fail(batch_id=int(batch_id), error=f"{type(exc).__name__}: {exc}")


@shared_task(name="campaigns.tasks.draft_cards", autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def draft_cards(run_id: int, index: int) -> Summary:
    """Draft the cards of one planner chunk's customers (and cancel those that lost their basis)."""
    chunk = PlannerChunk.objects.filter(run_id=run_id, index=index).first()
    if chunk is None:
        return {"drafted": 0}
    withdrawn, drafted = cards_follow_touchpoints(scope=chunk.customers)
    return {"drafted": drafted, "withdrawn": withdrawn}


@shared_task(
    name="campaigns.tasks.draft_cards_for_customers", autoretry_for=(Exception,), retry_backoff=True, max_retries=5
)
def draft_cards_for_customers(customer_ids: list[int]) -> Summary:
    withdrawn, drafted = cards_follow_touchpoints(scope=CustomerScope.of(customer_ids))
    return {"drafted": drafted, "withdrawn": withdrawn}


@shared_task(name="campaigns.tasks.check_card_fits", autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def check_card_fits(card_ids: list[int]) -> Summary:
    return {"checked": cards_check_fit(card_ids=card_ids)}


@shared_task(name="campaigns.tasks.check_overdue_card_fits")
def check_overdue_card_fits(after_seconds: float | None = None) -> Summary:
    """Beat, every five minutes (render queue): the fit checks of open cards whose task was lost."""
    after = FIT_CHECK_OVERDUE_AFTER if after_seconds is None else dt.timedelta(seconds=after_seconds)
    return cards_check_fit_overdue(after=after).as_dict()


@shared_task(
    name="campaigns.tasks.render_batch_chunk",
    base=_BatchTask,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
)
def render_batch_chunk(batch_id: int, index: int) -> Summary:
    try:
        rendered = batch_render_chunk(batch_id=batch_id, index=index)
    except BatchError as exc:
        # What no retry can mend (a message that does not fit): fail the batch now.
        batch_fail(batch_id=batch_id, error=str(exc))
        return {"rendered": False}
    # A print file whose last chunk this was is joined now, downloadable before the batch is ready.
    joined = batch_join_files(batch_id=batch_id, chunk_index=index) if rendered else 0
    # After the chunk's commit, like planning.finish_run_if_complete: the last chunk to commit
    # sees every other one rendered. Two may both see it; finishing twice is harmless.
    if batch_chunks_complete(batch_id):
        finish_batch.delay(batch_id)
    return {"rendered": rendered, "files_joined": joined}


@shared_task(
    name="campaigns.tasks.finish_batch", base=_BatchTask, autoretry_for=(Exception,), retry_backoff=True, max_retries=3
)
def finish_batch(batch_id: int) -> Summary:
    return {"finished": batch_finish(batch_id=batch_id)}


@shared_task(name="campaigns.tasks.resume_batches")
def resume_batches(idle_seconds: float | None = None) -> Summary:
    """Queue again what a dead worker took with it (Beat, and every worker when it starts)."""
    idle = BATCH_STALL_AFTER if idle_seconds is None else dt.timedelta(seconds=idle_seconds)
    return {"resumed": batches_resume_stalled(idle_for=idle)}


@worker_ready.connect
def resume_batches_on_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts may be replacing one that died mid-batch: pick up its chunks at once.

    Chunks still waiting in the queue are queued twice; the second delivery finds them rendered.
    """
    resume_batches.delay(0)


@shared_task(name="campaigns.tasks.record_report_figures", autoretry_for=(Exception,), retry_backoff=60, max_retries=3)
def record_report_figures() -> Summary:
    """The reports' figures of every day not yet written (nightly; a re-run writes nothing twice)."""
    return dict(report_figures.report_figures_record())


@shared_task(name="campaigns.tasks.send_report_packs")
def send_report_packs() -> Summary:
    """On the first working day of the month, fan out one pack of last month per recipient."""
    today = timezone.localdate()
    if not report_packs.is_first_working_day(today):
        return {"packs": 0}
    month = report_packs.pack_month(today)
    user_ids = report_packs.pack_recipients()
    for user_id in user_ids:
        publish_on_commit(send_report_pack, user_id, month.isoformat())
    return {"packs": len(user_ids)}


@shared_task(
    name="campaigns.tasks.send_report_pack",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=8,
)
def send_report_pack(user_id: int, month: str) -> Summary:
    sent = report_packs.report_pack_send(user_id=user_id, month=dt.date.fromisoformat(month))
    return {"sent": int(sent)}


@shared_task(name="campaigns.tasks.expire_idempotency_keys")
def expire_idempotency_keys() -> Summary:
    """Forget the API's idempotency keys past their time (nightly prune_old_records does it now;
    kept for a schedule that still names it)."""
    return {"deleted": idempotency.idempotency_keys_expire()}


@shared_task(name="campaigns.tasks.prune_old_records", autoretry_for=(Exception,), retry_backoff=60, max_retries=3)
def prune_old_records() -> Summary:
    """Nightly: delete what is past its retention (idempotency keys, webhook events, CRM receipts, job
    runs), in batches."""
    return pruning.old_records_prune().as_dict()


# --- Webhooks ---------------------------------------------------------------------------------
# Beat runs dispatch_webhooks every few seconds and record_touchpoints_due every few minutes; a
# commit that records events also asks for a dispatch at once (campaigns.receivers).

# One dispatch works for at most this many batches, then hands over to a fresh task.
WEBHOOK_BATCHES_PER_TASK = 50


@shared_task(name="campaigns.tasks.dispatch_webhooks")
def dispatch_webhooks() -> Summary:
    webhooks.webhook_events_fan_out()
    if webhooks.webhook_deliveries_due_count(limit=webhooks.DISPATCH_BATCH + 1) > webhooks.DISPATCH_BATCH:
        # More than one batch: a second worker process helps (claims keep them apart).
        dispatch_webhooks.delay()
    summary = webhooks.webhook_deliveries_dispatch(max_batches=WEBHOOK_BATCHES_PER_TASK)
    more = webhooks.webhook_deliveries_due_exist()
    if more:
        dispatch_webhooks.delay()
    return {**summary.as_dict(), "more": more}


@shared_task(
    name="campaigns.tasks.record_touchpoints_due", autoretry_for=(Exception,), retry_backoff=True, max_retries=3
)
def record_touchpoints_due() -> Summary:
    return {"recorded": webhooks.webhook_events_touchpoints_due()}
