"""Card workflow: batch re-renders and selections, chunk labels, "approved" cards fit; the stall sweep."""

import django.db.models.deletion
from django.apps.registry import Apps
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

RESUME_BATCHES = "Resume stalled print batches"


def create_resume_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=RESUME_BATCHES,
        defaults={
            "task": "campaigns.tasks.resume_batches",
            "interval": every_ten_minutes,
            "description": "Queue again the chunks of batches that made no progress for ten minutes "
            "(a worker died holding them).",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_builtin_card_designs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="batch",
            name="card_selection",
            field=models.JSONField(
                blank=True,
                editable=False,
                help_text="The cards chosen by hand (ids), for a batch built from a selection; empty for every approved card due by the date. Re-rendering a failed batch uses it.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="batch",
            name="retry_of",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                help_text="The failed batch this one renders again.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="retries",
                to="campaigns.batch",
            ),
        ),
        migrations.AddField(
            model_name="batchchunk",
            name="kind",
            field=models.CharField(choices=[("cards", "Cards"), ("labels", "Labels")], default="cards", max_length=10),
        ),
        migrations.AlterField(
            model_name="batchchunk",
            name="pdf",
            field=models.FileField(
                blank=True,
                help_text="The rendered pages, as a fragment ready to be joined.",
                upload_to="batches/chunks/",
            ),
        ),
        migrations.AddConstraint(
            model_name="batchchunk",
            constraint=models.CheckConstraint(
                condition=models.Q(("kind__in", ["cards", "labels"])), name="batchchunk_kind_valid"
            ),
        ),
        migrations.AddConstraint(
            model_name="card",
            constraint=models.CheckConstraint(
                condition=models.Q(("fits", False), ("status", "approved"), _negated=True), name="card_approved_fits"
            ),
        ),
        migrations.RunPython(create_resume_schedule, migrations.RunPython.noop),
    ]
