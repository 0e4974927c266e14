"""ImportJob: a CSV import that runs in the background, with its progress (nurture.services.import_jobs)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import nurture.models.imports


class Migration(migrations.Migration):
    dependencies = [
        ("nurture", "0011_customer_search"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ImportJob",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "file",
                    models.FileField(blank=True, max_length=200, upload_to=nurture.models.imports.import_file_name),
                ),
                (
                    "original_name",
                    models.CharField(help_text="The file's name on the uploader's computer.", max_length=255),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("checking", "Checking"),
                            ("checked", "Checked"),
                            ("importing", "Importing"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                ("step", models.CharField(blank=True, help_text="What the worker is doing now.", max_length=100)),
                ("rows_total", models.PositiveIntegerField(default=0)),
                ("rows_done", models.PositiveIntegerField(default=0)),
                (
                    "summary",
                    models.JSONField(blank=True, default=dict, help_text="The dry run's counts (ImportResult)."),
                ),
                ("preview", models.JSONField(blank=True, default=list, help_text="The first rows that would change.")),
                ("result", models.JSONField(blank=True, default=dict, help_text="The import's counts, once done.")),
                (
                    "problems",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="Every bad row: [line, column, message]; line 0 is the header.",
                    ),
                ),
                ("error", models.TextField(blank=True, help_text="An unexpected failure, for the administrator.")),
                ("attempt", models.CharField(blank=True, max_length=32)),
                ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("checked_at", models.DateTimeField(blank=True, null=True)),
                ("confirmed_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "uploaded_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("state__in", ["queued", "checking", "checked", "importing", "done", "failed"])
                        ),
                        name="importjob_state_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("rows_done__lte", models.F("rows_total"))), name="importjob_progress"
                    ),
                ],
            },
        ),
    ]
