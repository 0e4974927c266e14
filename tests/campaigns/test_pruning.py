"""The nightly pruning: what is past its retention goes, in batches; what is still needed stays."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import tasks
from campaigns.models import CrmEventReceived, IdempotencyKey, WebhookDelivery, WebhookEndpoint, WebhookEvent
from campaigns.services.pruning import old_records_prune
from nurture.models import ApiToken, JobRun
from tests.factories import NOON_UTC, make_api_token, make_user
from tests.support.concurrency import at_once

NOW = NOON_UTC
DAY = dt.timedelta(days=1)


def event(*, age_days: float, statuses: list[str], endpoint: WebhookEndpoint, fanned: bool = True) -> WebhookEvent:
    created = NOW - age_days * DAY
    row = WebhookEvent.objects.create(
        message_id=WebhookEvent.new_message_id(),
        type="card.mailed",
        data={},
        created_at=created,
        fanned_out_at=created if fanned else None,
    )
    for status in statuses:
        other = WebhookEndpoint.objects.create(url="https://hooks.example.com/", secret="whsec_x", owner=endpoint.owner)
        WebhookDelivery.objects.create(
            event=row,
            endpoint=other,
            status=status,
            delivered_at=created if status == "delivered" else None,
            created_at=created,
        )
    return row


@pytest.fixture
def endpoint(db: None) -> WebhookEndpoint:
    owner = make_user("hookowner")
    return WebhookEndpoint.objects.create(url="https://hooks.example.com/", secret="whsec_x", owner=owner)


@pytest.fixture
def token(db: None) -> ApiToken:
    make_api_token(make_user("integrator"))
    return ApiToken.objects.get()


def key(token: ApiToken, *, age_days: float) -> IdempotencyKey:
    return IdempotencyKey.objects.create(
        token=token,
        key=f"k-{age_days}",
        request_hash="0" * 64,
        status_code=202,
        response={},
        created_at=NOW - age_days * DAY,
    )


def receipt(*, age_days: float) -> CrmEventReceived:
    received_at = NOW - age_days * DAY
    return CrmEventReceived.objects.create(source="hubspot", event_key=f"e-{age_days}", received_at=received_at)


@pytest.mark.django_db
def test_each_kind_goes_after_its_retention_and_what_is_needed_stays(endpoint, token):
    delivered_old = event(age_days=31, statuses=["delivered", "delivered"], endpoint=endpoint)
    delivered_new = event(age_days=29, statuses=["delivered"], endpoint=endpoint)
    failed_old = event(age_days=91, statuses=["delivered", "failed"], endpoint=endpoint)
    failed_recent = event(age_days=60, statuses=["failed"], endpoint=endpoint)  # may still be replayed
    pending_old = event(age_days=200, statuses=["delivered", "pending"], endpoint=endpoint)  # still going out
    unfanned_old = event(age_days=200, statuses=[], endpoint=endpoint, fanned=False)
    keys = [key(token, age_days=days) for days in (6.9, 7.1, 40)]
    receipts = [receipt(age_days=days) for days in (29, 31, 400)]

    pruned = old_records_prune(now=NOW)

    assert pruned.as_dict() == {
        "idempotency_keys": 2,
        "webhook_events": 2,
        "webhook_deliveries": 4,
        "crm_receipts": 2,
        "job_runs": 0,
    }
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {
        e.pk for e in (delivered_new, failed_recent, pending_old, unfanned_old)
    }
    assert not WebhookDelivery.objects.filter(event_id__in=[delivered_old.pk, failed_old.pk]).exists()
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [keys[0].pk]
    assert list(CrmEventReceived.objects.values_list("pk", flat=True)) == [receipts[0].pk]
    # Run again: nothing more to do.
    assert old_records_prune(now=NOW).as_dict() == dict.fromkeys(pruned.as_dict(), 0)


@pytest.mark.django_db
def test_the_retentions_are_settings(endpoint, token, settings):
    settings.NURTURE_IDEMPOTENCY_KEEP_DAYS = 60
    settings.NURTURE_WEBHOOK_EVENTS_KEEP_DAYS = 14
    settings.NURTURE_CRM_RECEIPTS_KEEP_DAYS = 365
    event(age_days=20, statuses=["delivered"], endpoint=endpoint)
    key(token, age_days=40)
    receipt(age_days=100)

    assert old_records_prune(now=NOW).as_dict() == {
        "idempotency_keys": 0,
        "webhook_events": 1,
        "webhook_deliveries": 1,
        "crm_receipts": 0,
        "job_runs": 0,
    }


@pytest.mark.django_db
def test_it_deletes_in_bounded_batches(endpoint):
    for i in range(7):
        receipt(age_days=100 + i)

    with CaptureQueriesContext(connection) as queries:
        assert old_records_prune(now=NOW, batch=3).crm_receipts == 7
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 3 + 3 + 1 rows
    reads = [q["sql"] for q in queries.captured_queries if "crmeventreceived" in q["sql"] and "LIMIT 3" in q["sql"]]
    assert len(reads) == 4  # the last finds nothing


def job_run(task: str, *, age_days: float, status: str = "succeeded") -> JobRun:
    started = NOW - age_days * DAY
    return JobRun.objects.create(
        task_name=task, task_id=f"{task}-{age_days}-{status}", status=status, started_at=started, finished_at=started
    )


@pytest.mark.django_db
def test_finished_job_runs_go_after_their_retention_and_each_tasks_latest_run_stays(settings):
    assert settings.NURTURE_JOBRUN_KEEP_DAYS == 30
    sweep = "campaigns.tasks.plan_sweep"
    gone = [job_run(sweep, age_days=days, status=status) for days, status in ((31, "succeeded"), (40, "failed"))]
    kept = [
        job_run(sweep, age_days=29),
        job_run(sweep, age_days=45, status="running"),  # its worker may still write its outcome
        job_run(sweep, age_days=50, status="retrying"),  # its retry updates this row
        job_run("campaigns.tasks.send_report_pack", age_days=60),  # monthly: the Jobs page shows its last run
        job_run(sweep, age_days=0.5),
    ]
    job_run("campaigns.tasks.send_report_pack", age_days=90)

    pruned = old_records_prune(now=NOW)

    assert pruned.job_runs == 3
    assert set(JobRun.objects.values_list("pk", flat=True)) == {run.pk for run in kept}
    assert not JobRun.objects.filter(pk__in=[run.pk for run in gone]).exists()
    assert old_records_prune(now=NOW).job_runs == 0


@pytest.mark.django_db
def test_the_job_runs_retention_is_a_setting_and_deleted_in_batches(settings):
    settings.NURTURE_JOBRUN_KEEP_DAYS = 2
    for i in range(7):
        job_run("campaigns.tasks.dispatch_webhooks", age_days=3 + i)
    job_run("campaigns.tasks.dispatch_webhooks", age_days=1)

    with CaptureQueriesContext(connection) as queries:
        assert old_records_prune(now=NOW, batch=3).job_runs == 7
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE") and "jobrun" in q["sql"]]
    assert len(deletes) == 3  # 3 + 3 + 1 rows
    assert JobRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_delete_each_row_once(endpoint):
    for i in range(30):
        event(age_days=40 + i, statuses=["delivered"], endpoint=endpoint)
        receipt(age_days=40 + i)
        job_run("campaigns.tasks.plan_chunk", age_days=40 + i)
    job_run("campaigns.tasks.plan_chunk", age_days=1)

    def run() -> Any:
        return old_records_prune(now=NOW, batch=4)

    results = at_once(run, run, timeout=60)
    assert sum(r.webhook_events for r in results) == 30
    assert sum(r.crm_receipts for r in results) == 30
    assert sum(r.job_runs for r in results) == 30
    assert not WebhookEvent.objects.exists() and not CrmEventReceived.objects.exists()
    assert JobRun.objects.count() == 1


@pytest.mark.django_db
def test_the_nightly_task_calls_the_service_and_beat_runs_it(endpoint):
    from django_celery_beat.models import PeriodicTask

    receipt(age_days=10_000)
    assert tasks.prune_old_records.apply().get() == {
        "idempotency_keys": 0,
        "webhook_events": 0,
        "webhook_deliveries": 0,
        "crm_receipts": 1,
        "job_runs": 0,
    }
    scheduled = PeriodicTask.objects.get(task="campaigns.tasks.prune_old_records")
    assert scheduled.enabled and (scheduled.crontab.hour, scheduled.crontab.minute) == ("3", "40")
    assert not PeriodicTask.objects.filter(task="campaigns.tasks.expire_idempotency_keys").exists()
