"""The holdout draw as the field's default, and an index on the holdout group (the reports).

Non-atomic: the index is built CONCURRENTLY (nurture/lib/migrations.py). The default is drawn
in Python when a customer is created (nurture.models.customers.holdout_for_new_customer); the
column keeps no database default, and existing customers keep the value they have.
"""

from django.db import migrations, models

import nurture.models.customers
from nurture.lib.migrations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nurture", "0015_returned_mail"),
    ]

    operations = [
        migrations.AlterField(
            model_name="customer",
            name="holdout",
            field=models.BooleanField(
                default=nurture.models.customers.holdout_for_new_customer,
                editable=False,
                help_text=(
                    "In the holdout group: chosen at random when the customer was created and fixed for good; "
                    "gets no touchpoints, so that retention can be compared with and without nurturing."
                ),
            ),
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(condition=models.Q(("holdout", True)), fields=["id"], name="customer_holdout"),
        ),
    ]
