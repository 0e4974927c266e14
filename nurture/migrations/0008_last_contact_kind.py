"""The milestone a logged contact moves, so cadences anchored on it restart their clock."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def create_kind(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    MilestoneKind = apps.get_model("nurture", "MilestoneKind")
    MilestoneKind.objects.get_or_create(slug="last_contact", defaults={"name": "Last contact"})


class Migration(migrations.Migration):
    dependencies = [("nurture", "0007_outcome_reactions")]
    operations = [migrations.RunPython(create_kind, migrations.RunPython.noop)]
