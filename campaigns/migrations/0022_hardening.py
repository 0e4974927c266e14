"""Loose ends: the print room's queue counted along an index of the approved cards by mail-by date;
the nightly pruning of what is past its retention (it replaces the daily expiry of idempotency keys).

Non-atomic: the index on cards is built CONCURRENTLY (nurture/lib/migrations.py); the Beat entries
are written in a transaction of their own.
"""

import datetime as dt

from django.apps.registry import Apps
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

from nurture.lib.migrations import AddIndexConcurrently

PRUNE_OLD_RECORDS = "Prune old records (nightly)"
# campaigns 0019's entry, which the pruning replaces.
EXPIRE_IDEMPOTENCY_KEYS = "Forget API idempotency keys older than 7 days"


def schedule_pruning(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    # A quiet hour: after the reports' figures (00:20), before the morning's digests.
    night, _ = CrontabSchedule.objects.get_or_create(
        minute="40", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=PRUNE_OLD_RECORDS,
        defaults={
            "task": "campaigns.tasks.prune_old_records",
            "crontab": night,
            "description": "Delete idempotency keys, delivered webhook events and CRM receipts past their "
            "retention, in batches (docs/operations.md, Retention).",
            # Long ago: Beat's first tick after installation prunes at once.
            "last_run_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        },
    )
    PeriodicTask.objects.filter(name=EXPIRE_IDEMPOTENCY_KEYS).delete()
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule_pruning(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=PRUNE_OLD_RECORDS).delete()
    six_am, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=EXPIRE_IDEMPOTENCY_KEYS,
        defaults={
            "task": "campaigns.tasks.expire_idempotency_keys",
            "crontab": six_am,
            "description": "Idempotency-Key headers are honoured for 7 days.",
        },
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0021_crm_adapters"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="card",
            index=models.Index(
                condition=models.Q(("status", "approved")), fields=["mail_by", "id"], name="card_approved_mail_by"
            ),
        ),
        migrations.RunPython(schedule_pruning, unschedule_pruning, atomic=True),
    ]
