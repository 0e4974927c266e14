"""Loose ends: the print room's queue counted along an index of the approved cards by mail-by date.

Non-atomic: the index on cards is built CONCURRENTLY (nurture/lib/migrations.py).
"""

from django.db import migrations, models

from nurture.lib.migrations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0021_crm_adapters"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="card",
            index=models.Index(
                condition=models.Q(("status", "approved")), fields=["mail_by", "id"], name="card_approved_mail_by"
            ),
        ),
    ]
