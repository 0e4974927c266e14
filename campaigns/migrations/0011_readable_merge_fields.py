"""The built-in anniversary card reads as a person would write it: "happy 2nd anniversary! Thank you
for 2 years together", not "2 year(s)". Only a rule still holding the old built-in text changes, so
an administrator's own wording is kept; reversing puts the old text back where the new one stands."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# (old built-in text, new built-in text), as 0002_default_cadences created them.
TEMPLATES = [
    (
        "Dear {{ first_name }},\n\nhappy anniversary! {{ years_as_customer }} year(s) "
        "together, and we are grateful for every one of them.\n\n{{ signature }}",
        "Dear {{ first_name }},\n\nhappy {{ anniversary_ordinal }} anniversary! Thank you for "
        "{{ years_together }} together; we look forward to many more.\n\n{{ signature }}",
    ),
]


def _replace(apps: Apps, *, forwards: bool) -> None:
    Rule = apps.get_model("campaigns", "Rule")
    for old, new in TEMPLATES:
        before, after = (old, new) if forwards else (new, old)
        Rule.objects.filter(message_template=before).update(message_template=after)


def readable(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _replace(apps, forwards=True)


def as_before(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _replace(apps, forwards=False)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0010_touchpoint_fewer_indexes"),
    ]

    operations = [migrations.RunPython(readable, as_before)]
