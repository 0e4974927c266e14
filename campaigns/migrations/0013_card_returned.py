"""Returned cards: the status and when the print room recorded it."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0012_card_mail_by"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="card",
            name="card_status_valid",
        ),
        migrations.RemoveConstraint(
            model_name="card",
            name="card_batch_matches_status",
        ),
        migrations.AddField(
            model_name="card",
            name="returned_at",
            field=models.DateTimeField(
                blank=True, editable=False, help_text="When the print room recorded the card as returned.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="card",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("approved", "Approved"),
                    ("batched", "In a batch"),
                    ("printed", "Printed"),
                    ("mailed", "Mailed"),
                    ("returned", "Returned"),
                    ("cancelled", "Cancelled"),
                ],
                default="draft",
                max_length=10,
            ),
        ),
        migrations.AddConstraint(
            model_name="card",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status__in", ["draft", "approved", "batched", "printed", "mailed", "returned", "cancelled"])
                ),
                name="card_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="card",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("batch__isnull", False),
                        ("sequence__isnull", False),
                        ("status__in", ["batched", "printed", "mailed", "returned"]),
                    ),
                    models.Q(
                        ("batch__isnull", True),
                        ("sequence__isnull", True),
                        ("status__in", ["draft", "approved", "cancelled"]),
                    ),
                    _connector="OR",
                ),
                name="card_batch_matches_status",
            ),
        ),
        migrations.AddConstraint(
            model_name="card",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "returned"), _negated=True), ("returned_at__isnull", False), _connector="OR"
                ),
                name="card_returned_has_time",
            ),
        ),
    ]
