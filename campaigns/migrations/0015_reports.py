"""The reports: their daily figures, the indexes that read one day's events, and the nightly job.

Non-atomic: the indexes on touchpoints and cards are built CONCURRENTLY (nurture/lib/migrations.py);
the Beat entry is written in a transaction of its own.
"""

import datetime as dt

import django.db.models.deletion
from django.apps.registry import Apps
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

from nurture.lib.migrations import AddIndexConcurrently

REPORT_FIGURES = "Report figures (nightly)"
REPORT_PACKS = "Monthly report pack (first working day)"


def create_periodic_tasks(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    # Just after midnight: the day that ended is closed, and today's queues are as the day begins.
    after_midnight, _ = CrontabSchedule.objects.get_or_create(
        minute="20", hour="0", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=REPORT_FIGURES,
        defaults={
            "task": "campaigns.tasks.record_report_figures",
            "crontab": after_midnight,
            "description": "Write the reports' figures of the days not yet written (docs/reports.md).",
            # Long ago: Beat's first tick after installation writes the figures at once.
            "last_run_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        },
    )
    # Every morning of the month's first week; the task itself sends only on the first working day,
    # and once per recipient and month (ReportPackDelivery).
    first_week_mornings, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="*", day_of_month="1-7", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=REPORT_PACKS,
        defaults={
            "task": "campaigns.tasks.send_report_packs",
            "crontab": first_week_mornings,
            "description": "E-mail last month's reports as a PDF to leads and administrators.",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_periodic_tasks(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[REPORT_FIGURES, REPORT_PACKS]
    ).delete()


class Migration(migrations.Migration):
    atomic = False
    dependencies = [
        ("campaigns", "0014_returned_mail"),
        ("nurture", "0016_reports"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyFigure",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("report", models.CharField(help_text="The report's name, e.g. on-time.", max_length=30)),
                ("day", models.DateField(help_text="The day the figure describes.")),
                (
                    "manager_id",
                    models.PositiveIntegerField(default=0, help_text="The account manager's user id; 0 for none."),
                ),
                (
                    "kind",
                    models.CharField(
                        blank=True,
                        help_text="The milestone kind's slug the figure is about; empty when not by kind.",
                        max_length=50,
                    ),
                ),
                ("key", models.CharField(help_text="What is counted, e.g. done or on_time.", max_length=40)),
                ("value", models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="ReportDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("report", models.CharField(help_text="The report's name, e.g. on-time.", max_length=30)),
                ("day", models.DateField(help_text="The closed day the figures describe.")),
                ("recorded_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        AddIndexConcurrently(
            model_name="card",
            index=models.Index(
                condition=models.Q(("approved_at__isnull", False)), fields=["approved_at"], name="card_approved_at"
            ),
        ),
        AddIndexConcurrently(
            model_name="card",
            index=models.Index(
                condition=models.Q(("returned_at__isnull", False)), fields=["returned_at"], name="card_returned_at"
            ),
        ),
        AddIndexConcurrently(
            model_name="touchpoint",
            index=models.Index(
                condition=models.Q(("completed_at__isnull", False)),
                fields=["completed_at"],
                name="touchpoint_completed_at",
            ),
        ),
        # touchpoint_done_customer, which the coverage report reads too, comes with 0014_returned_mail.
        migrations.AddConstraint(
            model_name="dailyfigure",
            constraint=models.UniqueConstraint(
                fields=("report", "day", "manager_id", "kind", "key"), name="daily_figure_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="dailyfigure",
            constraint=models.CheckConstraint(condition=models.Q(("value__gte", 0)), name="daily_figure_not_negative"),
        ),
        migrations.AddConstraint(
            model_name="reportday",
            constraint=models.UniqueConstraint(fields=("report", "day"), name="report_day_once"),
        ),
        migrations.CreateModel(
            name="ReportPackDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(help_text="The first day of the month the pack covers.")),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("user", "month"), name="report_pack_once_per_user_per_month"),
                    models.CheckConstraint(
                        condition=models.Q(("month__day", 1)), name="report_pack_month_starts_on_the_first"
                    ),
                ],
            },
        ),
        migrations.RunPython(create_periodic_tasks, remove_periodic_tasks, atomic=True),
    ]
