"""A customer's tier is a lower-case slug or nothing (cadences limited to tiers match it exactly)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("nurture", "0017_health"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.CheckConstraint(
                condition=models.Q(("tier__regex", "^[-a-z0-9_]*$")), name="customer_tier_slug"
            ),
        ),
    ]
