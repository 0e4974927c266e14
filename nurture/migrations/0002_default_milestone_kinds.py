from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

DEFAULT_KINDS = [
    ("became_customer", "Became a customer"),
    ("job_placement", "Placed in a job"),
    ("renewal", "Renewal date"),
    ("birthday", "Birthday"),
]


def create_kinds(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    MilestoneKind = apps.get_model("nurture", "MilestoneKind")
    for slug, name in DEFAULT_KINDS:
        MilestoneKind.objects.get_or_create(slug=slug, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("nurture", "0001_initial")]
    operations = [migrations.RunPython(create_kinds, migrations.RunPython.noop)]
