"""Returned mail: Today's list of customers whose address a returned card flagged.

Non-atomic: the indexes are built CONCURRENTLY (nurture/lib/migrations.py).
"""

from django.db import migrations, models

from nurture.lib.migrations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nurture", "0014_customer_tier_holdout_returned_mail"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("address_undeliverable_on__isnull", False)),
                fields=["account_manager", "address_undeliverable_on"],
                name="customer_manager_undeliverable",
            ),
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("address_undeliverable_on__isnull", False)),
                fields=["address_undeliverable_on"],
                name="customer_undeliverable",
            ),
        ),
    ]
