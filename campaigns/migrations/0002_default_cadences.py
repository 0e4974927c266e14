"""The default cadences. A data migration runs once: what an administrator deletes stays deleted."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

DEFAULT_CADENCES = [
    {
        "name": "Post-sale nurture",
        "anchor": "became_customer",
        "description": "A welcome call two weeks after the sale, a card at six months and on every anniversary.",
        "rules": [
            {
                "slug": "welcome-call",
                "name": "Welcome call",
                "action": "call",
                "offset_amount": 14,
                "offset_unit": "days",
                "business_day_policy": "next",
            },
            {
                "slug": "six-month-follow-up",
                "name": "Six-month follow-up card",
                "action": "card",
                "offset_amount": 6,
                "offset_unit": "months",
                "message_template": "Dear {{ first_name }},\n\nit has been six months since you joined us, and we "
                "wanted to say thank you.\n\n{{ signature }}",
            },
            {
                "slug": "anniversary-card",
                "name": "Anniversary card",
                "action": "card",
                "offset_amount": 12,
                "offset_unit": "months",
                "repeat_every_months": 12,
                "message_template": "Dear {{ first_name }},\n\nhappy anniversary! {{ years_as_customer }} year(s) "
                "together, and we are grateful for every one of them.\n\n{{ signature }}",
            },
        ],
    },
    {
        "name": "Placement follow-through",
        "anchor": "job_placement",
        "description": "Congratulations on the placement, and a card six months into the new job.",
        "rules": [
            {
                "slug": "placement-congrats",
                "name": "Placement congratulations",
                "action": "card",
                "offset_amount": 0,
                "offset_unit": "days",
                "message_template": "Dear {{ first_name }},\n\ncongratulations on your new position! We wish you "
                "every success.\n\n{{ signature }}",
            },
            {
                "slug": "placement-six-month",
                "name": "Six months in the new job",
                "action": "card",
                "offset_amount": 6,
                "offset_unit": "months",
                "message_template": "Dear {{ first_name }},\n\nsix months in your new role: we hope it is going "
                "well.\n\n{{ signature }}",
            },
        ],
    },
]


def create_cadences(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    MilestoneKind = apps.get_model("nurture", "MilestoneKind")
    Cadence = apps.get_model("campaigns", "Cadence")
    Rule = apps.get_model("campaigns", "Rule")
    for spec in DEFAULT_CADENCES:
        kind = MilestoneKind.objects.filter(slug=spec["anchor"]).first()
        if kind is None or Cadence.objects.filter(name=spec["name"]).exists():
            continue
        cadence = Cadence.objects.create(name=spec["name"], anchor_kind=kind, description=spec["description"])
        for rule in spec["rules"]:
            if not Rule.objects.filter(slug=rule["slug"]).exists():
                Rule.objects.create(cadence=cadence, **rule)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("nurture", "0002_default_milestone_kinds")]
    operations = [migrations.RunPython(create_cadences, migrations.RunPython.noop)]
