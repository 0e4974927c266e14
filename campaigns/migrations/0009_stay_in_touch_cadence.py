"""Retries for the default cadences, and an example cadence on the last contact (off until turned on)."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def create_cadence(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    MilestoneKind = apps.get_model("nurture", "MilestoneKind")
    Cadence = apps.get_model("campaigns", "Cadence")
    Rule = apps.get_model("campaigns", "Rule")
    # The default cadences call again two business days after "no answer", twice at most.
    Cadence.objects.filter(name__in=["Post-sale nurture", "Placement follow-through"]).update(
        no_answer_retry_days=2, no_answer_max_retries=2
    )
    kind = MilestoneKind.objects.filter(slug="last_contact").first()
    if kind is None or Cadence.objects.filter(name="Stay in touch").exists():
        return
    cadence = Cadence.objects.create(
        name="Stay in touch",
        anchor_kind=kind,
        active=False,
        description="A check-in call three months after the last conversation; every logged contact restarts it.",
    )
    if not Rule.objects.filter(slug="check-in-after-contact").exists():
        Rule.objects.create(
            cadence=cadence,
            slug="check-in-after-contact",
            name="Check-in three months after the last contact",
            action="call",
            offset_amount=3,
            offset_unit="months",
            business_day_policy="next",
        )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0008_outcome_reactions"), ("nurture", "0008_last_contact_kind")]
    operations = [migrations.RunPython(create_cadence, migrations.RunPython.noop)]
