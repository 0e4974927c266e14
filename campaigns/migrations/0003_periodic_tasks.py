"""The Beat schedule, created in code and editable in the admin (django-celery-beat)."""

import datetime as dt

from django.apps.registry import Apps
from django.conf import settings
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

PLAN_SWEEP = "Plan touchpoints (hourly sweep)"
MORNING_DIGEST = "Morning digest to account managers"


def create_periodic_tasks(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    # Planning is a cheap sweep: running it hourly means a lost tick or a broker outage costs nothing.
    PeriodicTask.objects.get_or_create(
        name=PLAN_SWEEP,
        defaults={
            "task": "campaigns.tasks.plan_sweep",
            "interval": hourly,
            "description": "Materialise touchpoints.",
            # Long ago: Beat's first tick after installation runs the sweep at once, not in an hour.
            "last_run_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        },
    )
    seven_am, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="7", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=MORNING_DIGEST,
        defaults={
            "task": "campaigns.tasks.send_digests",
            "crontab": seven_am,
            "description": "Each account manager's calls due today and overdue.",
        },
    )
    # Tell a running DatabaseScheduler that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_default_cadences"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_periodic_tasks, migrations.RunPython.noop)]
