"""Tier, holdout and the undeliverable-address flag on the customer.

Non-atomic: the tier index is built CONCURRENTLY (nurture/lib/migrations.py).
"""

from django.conf import settings
from django.db import migrations, models

from nurture.lib.migrations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nurture", "0013_administrators_unlock_logins"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="address_undeliverable_on",
            field=models.DateField(
                blank=True,
                help_text="Set when a card came back as undeliverable; further cards wait until the address changes.",
                null=True,
                verbose_name="address undeliverable since",
            ),
        ),
        migrations.AddField(
            model_name="customer",
            name="holdout",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="In the holdout group: chosen at random when the customer was created and fixed for good; gets no touchpoints, so that retention can be compared with and without nurturing.",
            ),
        ),
        migrations.AddField(
            model_name="customer",
            name="tier",
            field=models.SlugField(
                blank=True,
                db_index=False,
                help_text="Loyalty tier, e.g. gold; cadences may be limited to tiers, like segments. No points.",
            ),
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(condition=models.Q(("tier", ""), _negated=True), fields=["tier"], name="customer_tier"),
        ),
    ]
