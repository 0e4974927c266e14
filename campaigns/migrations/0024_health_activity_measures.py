"""The health measures fed by activities in other channels: the latest NPS answer and the support
tickets (campaigns/scoring/measures.py), added as measure rows like the first five were."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# (name, kind, weight), after the five of 0017_health.
ACTIVITY_MEASURES = [
    ("NPS", "nps", 1.0),
    ("Support tickets", "support_tickets", 1.0),
]


def add_measures(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    HealthMeasure = apps.get_model("campaigns", "HealthMeasure")
    after = max(HealthMeasure.objects.values_list("position", flat=True), default=-1)
    for offset, (name, kind, weight) in enumerate(ACTIVITY_MEASURES, start=1):
        HealthMeasure.objects.get_or_create(
            name=name, defaults={"kind": kind, "weight": weight, "position": after + offset}
        )


def remove_measures(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    HealthMeasure = apps.get_model("campaigns", "HealthMeasure")
    HealthMeasure.objects.filter(kind__in=[kind for _, kind, _ in ACTIVITY_MEASURES]).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0023_referrals")]

    operations = [migrations.RunPython(add_measures, remove_measures)]
