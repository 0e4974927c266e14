"""Offsets counted in business days ("2 business days after"), and the default "Referral thanks"
cadence's card moved onto them: the issue asks for the thank-you card two business days after the
referral qualifies, which a calendar offset only matched from Monday to Wednesday."""

from django.db import migrations, models
from django.db.models import F


def card_in_business_days(apps, schema_editor):
    Rule = apps.get_model("campaigns", "Rule")
    Cadence = apps.get_model("campaigns", "Cadence")
    # Only the rule as 0023 made it: an administrator's own timing stays.
    Rule.objects.filter(slug="referral-thank-you-card", offset_amount=2, offset_unit="days").update(
        offset_unit="business_days", version=F("version") + 1
    )
    Cadence.objects.filter(name="Referral thanks").update(
        description=models.functions.Replace(
            "description",
            models.Value("a thank-you card two days later"),
            models.Value("a thank-you card two business days later"),
        )
    )


def card_in_days(apps, schema_editor):
    Rule = apps.get_model("campaigns", "Rule")
    Rule.objects.filter(slug="referral-thank-you-card", offset_unit="business_days").update(offset_unit="days")


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0024_health_activity_measures"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="rule",
            name="rule_offset_unit_valid",
        ),
        migrations.AlterField(
            model_name="rule",
            name="offset_unit",
            field=models.CharField(
                choices=[
                    ("days", "days"),
                    ("weeks", "weeks"),
                    ("months", "months"),
                    ("years", "years"),
                    ("business_days", "business days"),
                ],
                default="days",
                help_text="Unit of the offset; business days skip weekends and the public holidays of the customer's country.",
                max_length=20,
            ),
        ),
        migrations.AddConstraint(
            model_name="rule",
            constraint=models.CheckConstraint(
                condition=models.Q(("offset_unit__in", ["days", "weeks", "months", "years", "business_days"])),
                name="rule_offset_unit_valid",
            ),
        ),
        migrations.RunPython(card_in_business_days, card_in_days),
    ]
