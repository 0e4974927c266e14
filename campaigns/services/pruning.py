"""Forgetting what is past its retention: webhook events and their deliveries, CRM receipts, idempotency
keys, the job log.

The nightly job (campaigns.tasks.prune_old_records) calls ``old_records_prune``. Each kind is
deleted in batches of PRUNE_BATCH rows, each batch its own short transaction, so the job never holds
locks on many rows or builds one huge DELETE, and a job stopped half-way has done part of the work
and nothing wrong. Each batch's DELETE repeats the conditions, so a row that changed meanwhile (a
failed delivery replayed, for instance) is not deleted; two runs at once delete each row once (the
second finds it gone). The retentions are settings (docs/operations.md, "Retention"):

- idempotency keys: NURTURE_IDEMPOTENCY_KEEP_DAYS (7), the time a key is honoured;
- webhook events whose every delivery is delivered: NURTURE_WEBHOOK_EVENTS_KEEP_DAYS (30), with
  their deliveries; those with a failed delivery are kept NURTURE_WEBHOOK_FAILED_KEEP_DAYS (90),
  to be replayed from the delivery log; those not fanned out or with a delivery pending, always;
- CRM receipts (CrmEventReceived): NURTURE_CRM_RECEIPTS_KEEP_DAYS (30). A CRM's redelivery of an
  event older than that would be applied again; HubSpot and Pipedrive retry for a few days at most.
- the job log (nurture_jobrun): NURTURE_JOBRUN_KEEP_DAYS (30) for finished runs. A run still
  running or waiting for its retry is never deleted (its worker writes its outcome on that row),
  nor each task's latest run, which the Jobs page shows for a task that runs monthly too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from campaigns.models import CrmEventReceived, IdempotencyKey, WebhookDelivery, WebhookEvent
from campaigns.services.idempotency import idempotency_kept
from nurture.models import JobRun

# Rows deleted per statement (and per transaction).
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class Pruned:
    idempotency_keys: int = 0
    webhook_events: int = 0
    webhook_deliveries: int = 0
    crm_receipts: int = 0
    job_runs: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _days(setting: str) -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, setting)))


def _delete_in_batches(rows: models.QuerySet[Any], *, batch: int) -> tuple[int, dict[str, int]]:
    """Delete `rows` PRUNE_BATCH at a time, in the order of their ids. Returns Django's delete() totals."""
    total, by_model = 0, dict[str, int]()
    after = 0
    while True:
        ids = list(rows.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return total, by_model
        with transaction.atomic():
            # The conditions again: a row that changed since it was read stays.
            deleted, per_model = rows.filter(pk__in=ids).delete()
        total += deleted
        for label, count in per_model.items():
            by_model[label] = by_model.get(label, 0) + count
        after = ids[-1]


def _webhook_events_past_retention(now: dt.datetime) -> models.QuerySet[WebhookEvent]:
    deliveries = WebhookDelivery.objects.filter(event=models.OuterRef("pk"))
    pending = deliveries.filter(status=WebhookDelivery.Status.PENDING)
    failed = deliveries.filter(status=WebhookDelivery.Status.FAILED)
    return WebhookEvent.objects.filter(
        models.Q(created_at__lt=now - _days("NURTURE_WEBHOOK_FAILED_KEEP_DAYS")) | ~models.Exists(failed),
        fanned_out_at__isnull=False,
        created_at__lt=now - _days("NURTURE_WEBHOOK_EVENTS_KEEP_DAYS"),
    ).exclude(models.Exists(pending))


def _job_runs_past_retention(now: dt.datetime) -> models.QuerySet[JobRun]:
    # Read once: a run that starts meanwhile only keeps one more row than needed until tomorrow.
    latest = list(JobRun.objects.latest_per_task().values_list("pk", flat=True))
    return JobRun.objects.older_than(now - _days("NURTURE_JOBRUN_KEEP_DAYS")).exclude(pk__in=latest)


def old_records_prune(*, now: dt.datetime | None = None, batch: int = PRUNE_BATCH) -> Pruned:
    """Delete every record past its retention, in batches. Returns how many of each."""
    now = now or timezone.now()
    keys, _ = _delete_in_batches(IdempotencyKey.objects.filter(created_at__lt=now - idempotency_kept()), batch=batch)
    _, events = _delete_in_batches(_webhook_events_past_retention(now), batch=batch)
    receipts, _ = _delete_in_batches(
        CrmEventReceived.objects.filter(received_at__lt=now - _days("NURTURE_CRM_RECEIPTS_KEEP_DAYS")), batch=batch
    )
    runs, _ = _delete_in_batches(_job_runs_past_retention(now), batch=batch)
    return Pruned(
        idempotency_keys=keys,
        webhook_events=events.get(WebhookEvent._meta.label, 0),
        webhook_deliveries=events.get(WebhookDelivery._meta.label, 0),
        crm_receipts=receipts,
        job_runs=runs,
    )
