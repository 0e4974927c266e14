"""The Beat entry that queues again the check or import of a CSV import whose task was lost (Redis
down when the upload or the confirmation committed, or its worker gone): every five minutes
(nurture.services.import_jobs.import_jobs_resume_stalled; docs/operations.md)."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

RESUME_IMPORTS = "Resume CSV imports whose task was lost"


def schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_5m, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=RESUME_IMPORTS,
        defaults={
            "task": "nurture.tasks.resume_imports",
            "interval": every_5m,
            "description": "Imports queued, confirmed or abandoned by their worker with no change for ten minutes: "
            "their check or import is queued again (docs/operations.md).",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=RESUME_IMPORTS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("nurture", "0020_referrals"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
