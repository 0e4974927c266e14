"""The REST API: activities, idempotency keys, and the daily tasks that warn about expiring API
tokens and forget old idempotency keys (Beat schedule, editable in the admin)."""

import django.db.models.deletion
from django.apps.registry import Apps
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

WARN_EXPIRING_TOKENS = "Warn owners of API tokens about to expire"
EXPIRE_IDEMPOTENCY_KEYS = "Forget API idempotency keys older than 7 days"


def create_periodic_tasks(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    six_am, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=WARN_EXPIRING_TOKENS,
        defaults={
            "task": "nurture.tasks.warn_expiring_api_tokens",
            "crontab": six_am,
            "description": "E-mail each owner once, 14 days before their API token expires.",
        },
    )
    PeriodicTask.objects.get_or_create(
        name=EXPIRE_IDEMPOTENCY_KEYS,
        defaults={
            "task": "campaigns.tasks.expire_idempotency_keys",
            "crontab": six_am,
            "description": "Idempotency-Key headers are honoured for 7 days.",
        },
    )
    # Tell a running DatabaseScheduler that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_periodic_tasks(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[WARN_EXPIRING_TOKENS, EXPIRE_IDEMPOTENCY_KEYS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0018_seasonal_rules"),
        ("nurture", "0019_api"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="Activity",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "channel",
                    models.CharField(
                        choices=[
                            ("email", "E-mail"),
                            ("meeting", "Meeting"),
                            ("support_ticket", "Support ticket"),
                            ("purchase", "Purchase"),
                            ("nps", "NPS response"),
                            ("other", "Other"),
                        ],
                        help_text="Where the touch happened.",
                        max_length=20,
                    ),
                ),
                ("occurred_at", models.DateTimeField(help_text="When it happened.")),
                (
                    "subject",
                    models.CharField(
                        blank=True, help_text="e.g. the e-mail's subject or the ticket's title.", max_length=200
                    ),
                ),
                (
                    "score",
                    models.SmallIntegerField(
                        blank=True, help_text="Optional: an NPS answer (0-10) or a rating out of 100.", null=True
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        blank=True,
                        help_text="The system it came from, e.g. the API token's name or 'hubspot'.",
                        max_length=50,
                    ),
                ),
                (
                    "external_id",
                    models.CharField(
                        blank=True,
                        help_text="Its ID in that system; sent twice, it is recorded once.",
                        max_length=100,
                        verbose_name="external ID",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="activities", to="nurture.customer"
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "activities",
                "ordering": ["-occurred_at", "-id"],
                "indexes": [models.Index(fields=["customer", "occurred_at"], name="activity_customer_time")],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("external_id", ""), _negated=True),
                        fields=("source", "external_id"),
                        name="activity_unique_external_id_per_source",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("channel__in", ["email", "meeting", "support_ticket", "purchase", "nps", "other"])
                        ),
                        name="activity_channel_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("score__isnull", True),
                            models.Q(("channel", "nps"), ("score__gte", 0), ("score__lte", 10)),
                            models.Q(
                                models.Q(("channel", "nps"), _negated=True), ("score__gte", 0), ("score__lte", 100)
                            ),
                            _connector="OR",
                        ),
                        name="activity_score_in_range",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="IdempotencyKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=255)),
                ("request_hash", models.CharField(help_text="SHA-256 of the method, path and body.", max_length=64)),
                ("status_code", models.PositiveSmallIntegerField()),
                ("response", models.JSONField()),
                ("created_at", models.DateTimeField(db_index=True)),
                (
                    "token",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="idempotency_keys",
                        to="nurture.apitoken",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("token", "key"), name="idempotencykey_unique_per_token")
                ],
            },
        ),
        migrations.RunPython(create_periodic_tasks, delete_periodic_tasks),
    ]
