"""Three built-in designs, and the default card rules pointed at them. Runs once."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

DESIGNS = [
    ("anniversary-a6", "Anniversary (A6 folded)", "anniversary", "#8c2f39"),
    ("thank-you-a6", "Thank you (A6 folded)", "thank_you", "#2f5d8c"),
    ("congratulations-a6", "Congratulations (A6 folded)", "congratulations", "#2f7a4f"),
]
RULE_DESIGNS = {
    "anniversary-card": "anniversary-a6",
    "six-month-follow-up": "thank-you-a6",
    "placement-congrats": "congratulations-a6",
    "placement-six-month": "thank-you-a6",
}


def create_designs(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    CardDesign = apps.get_model("campaigns", "CardDesign")
    Rule = apps.get_model("campaigns", "Rule")
    for slug, name, artwork, color in DESIGNS:
        CardDesign.objects.get_or_create(
            slug=slug, defaults={"name": name, "artwork": artwork, "accent_color": color, "format": "a6_folded"}
        )
    for rule_slug, design_slug in RULE_DESIGNS.items():
        Rule.objects.filter(slug=rule_slug, card_design__isnull=True).update(
            card_design=CardDesign.objects.get(slug=design_slug)
        )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_cards")]
    operations = [migrations.RunPython(create_designs, migrations.RunPython.noop)]
