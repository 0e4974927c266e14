"""Referrals (docs/referrals.md): calls held while at risk, the NPS index of the advocate flag, and two
default cadences: "Referral thanks" (on) and "Ask for a referral" (off until an administrator turns it on).

A data migration runs once: what an administrator deletes or edits afterwards stays as they left it.
"""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.contrib.contenttypes.management import create_contenttypes
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from nurture.roles import ensure_roles

CADENCES = [
    {
        "name": "Referral thanks",
        "anchor": "referred_customer",
        "active": True,
        "description": "When a referral qualifies: a thank-you card two days later and a call a week later. "
        "The first of them to reach the referrer marks the referral thanked.",
        "rules": [
            {
                "slug": "referral-thank-you-card",
                "name": "Thank-you card for a referral",
                "action": "card",
                "offset_amount": 2,
                "offset_unit": "days",
                # Mailed on the date itself: the card is the thank-you, not a card to arrive by a date.
                "card_lead_days": 0,
                "message_template": "Dear {{ first_name }},\n\nthank you for recommending us! Your trust means a "
                "great deal to us, and we will take good care of the people you send our way.\n\n{{ signature }}",
            },
            {
                "slug": "referral-thank-you-call",
                "name": "Thank-you call for a referral",
                "action": "call",
                "offset_amount": 7,
                "offset_unit": "days",
                "business_day_policy": "next",
                "celebratory": False,
            },
        ],
    },
    {
        "name": "Ask for a referral",
        "anchor": "promoter_score",
        "active": False,
        "description": "Two weeks after a customer answers NPS with 9 or 10, a call to ask whether they know "
        "someone we could help. Never in the quiet period after an 'at risk' outcome.",
        "rules": [
            {
                "slug": "ask-for-a-referral",
                "name": "Ask a promoter for a referral",
                "action": "call",
                "offset_amount": 14,
                "offset_unit": "days",
                "business_day_policy": "next",
                "celebratory": False,
                "hold_while_at_risk": True,
            },
        ],
    },
]


def create_cadences(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    MilestoneKind = apps.get_model("nurture", "MilestoneKind")
    Cadence = apps.get_model("campaigns", "Cadence")
    Rule = apps.get_model("campaigns", "Rule")
    for spec in CADENCES:
        kind = MilestoneKind.objects.filter(slug=spec["anchor"]).first()
        if kind is None or Cadence.objects.filter(name=spec["name"]).exists():
            continue
        cadence = Cadence.objects.create(
            name=spec["name"], anchor_kind=kind, description=spec["description"], active=spec["active"]
        )
        for rule in spec["rules"]:
            if not Rule.objects.filter(slug=rule["slug"]).exists():
                Rule.objects.create(cadence=cadence, **rule)


def grant(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Account managers see, add and act on the referrals of their customers (nurture.roles)."""
    # Permissions are normally created after all migrations ran; the roles need the referral's now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_contenttypes(app_config, verbosity=0, apps=apps)
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    ensure_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0022_hardening"),
        ("nurture", "0020_referrals"),
    ]

    operations = [
        migrations.AddField(
            model_name="rule",
            name="hold_while_at_risk",
            field=models.BooleanField(
                default=False,
                help_text="For calls: held back in a customer's quiet period after 'at risk', like celebratory "
                "cards (e.g. asking for a referral).",
                verbose_name="held while at risk",
            ),
        ),
        # Activities are not among the big tables (tests/test_migrations.py): a plain index.
        migrations.AddIndex(
            model_name="activity",
            index=models.Index(
                condition=models.Q(("channel", "nps")),
                fields=["customer", "occurred_at"],
                name="activity_nps_customer_time",
            ),
        ),
        migrations.RunPython(create_cadences, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
