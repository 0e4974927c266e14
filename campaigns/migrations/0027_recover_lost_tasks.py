"""Work whose task was lost (Redis down when the change committed) is found in the database and done:
the leads' alerts still unsent, the cards' fit checks still missing (docs/operations.md, "When Redis is
down at a commit"). Their indexes, and the two Beat entries that run the recovery every five minutes.

Non-atomic: the indexes on cards and touchpoints are built CONCURRENTLY (nurture/lib/migrations.py);
each is partial and holds a handful of rows. The Beat entries are written in a transaction of their own.
"""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

from nurture.lib.migrations import AddIndexConcurrently

SEND_OVERDUE_ALERTS = "Send the leads' alerts whose task was lost"
CHECK_OVERDUE_CARD_FITS = "Check the fit of cards whose check was lost"


def schedule_recovery(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_5m, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=SEND_OVERDUE_ALERTS,
        defaults={
            "task": "campaigns.tasks.send_overdue_alerts",
            "interval": every_5m,
            "description": "Alerts about a customer at risk or in the red band still unsent ten minutes after they "
            "were asked for (their task was not queued): sent once (docs/operations.md).",
        },
    )
    PeriodicTask.objects.get_or_create(
        name=CHECK_OVERDUE_CARD_FITS,
        defaults={
            "task": "campaigns.tasks.check_overdue_card_fits",
            "interval": every_5m,
            "description": "Open cards still unchecked against the inside panel ten minutes after their last "
            "change (their check was not queued): checked, on the render queue (docs/operations.md).",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule_recovery(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[SEND_OVERDUE_ALERTS, CHECK_OVERDUE_CARD_FITS]).delete()


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0026_health_fact_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="card",
            index=models.Index(
                condition=models.Q(("fits__isnull", True), ("status__in", ["draft", "approved"])),
                fields=["id"],
                name="card_unchecked",
            ),
        ),
        AddIndexConcurrently(
            model_name="healthbandchange",
            index=models.Index(
                condition=models.Q(("alert_sent_at__isnull", True), ("reacted_at__isnull", False)),
                fields=["reacted_at"],
                name="healthbandchange_alert_unsent",
            ),
        ),
        AddIndexConcurrently(
            model_name="touchpoint",
            index=models.Index(
                condition=models.Q(("alert_sent_at__isnull", True), ("outcome", "at_risk")),
                fields=["completed_at"],
                name="touchpoint_alert_unsent",
            ),
        ),
        migrations.RunPython(schedule_recovery, unschedule_recovery, atomic=True),
    ]
