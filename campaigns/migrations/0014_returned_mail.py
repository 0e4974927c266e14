"""The journey map: stages per cadence, a stage on each rule, and the indexes of the stage report;
returned mail: the index of the held touchpoints the planner releases when an address changes.

Non-atomic: the touchpoint indexes are built CONCURRENTLY (nurture/lib/migrations.py). The
built-in "Post-sale nurture" cadence gets three stages (onboarding, adoption, renewal) for its
three rules, when it is still there with them.
"""

import django.db.models.deletion
from django.db import migrations, models

from nurture.lib.migrations import AddIndexConcurrently

DEFAULT_STAGES = {
    "Post-sale nurture": [
        ("Onboarding", ["welcome-call"]),
        ("Adoption", ["six-month-follow-up"]),
        ("Renewal", ["anniversary-card"]),
    ],
}


def add_default_stages(apps, schema_editor):
    Cadence = apps.get_model("campaigns", "Cadence")
    Stage = apps.get_model("campaigns", "Stage")
    Rule = apps.get_model("campaigns", "Rule")
    for cadence_name, stages in DEFAULT_STAGES.items():
        cadence = Cadence.objects.filter(name=cadence_name).first()
        if cadence is None or Stage.objects.filter(cadence=cadence).exists():
            continue
        for position, (name, slugs) in enumerate(stages, start=1):
            stage = Stage.objects.create(cadence=cadence, name=name, position=position * 10)
            Rule.objects.filter(cadence=cadence, slug__in=slugs, stage__isnull=True).update(stage=stage)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0013_card_returned"),
    ]

    operations = [
        migrations.CreateModel(
            name="Stage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(help_text="e.g. onboarding, adoption, renewal, advocacy.", max_length=60)),
                (
                    "position",
                    models.PositiveSmallIntegerField(
                        default=0, help_text="The stages' order along the journey: lower first."
                    ),
                ),
                (
                    "cadence",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="stages", to="campaigns.cadence"
                    ),
                ),
            ],
            options={
                "ordering": ["cadence", "position", "id"],
                "constraints": [
                    models.UniqueConstraint(fields=("cadence", "name"), name="stage_unique_name_per_cadence")
                ],
            },
        ),
        migrations.AddField(
            model_name="rule",
            name="stage",
            field=models.ForeignKey(
                blank=True,
                help_text="The stage of the cadence's journey this step belongs to (the journey map); a new stage can be chosen once the cadence is saved.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="rules",
                to="campaigns.stage",
            ),
        ),
        AddIndexConcurrently(
            model_name="touchpoint",
            index=models.Index(
                condition=models.Q(("status", "done")), fields=["rule", "completed_at"], name="touchpoint_done_rule"
            ),
        ),
        AddIndexConcurrently(
            model_name="touchpoint",
            index=models.Index(
                condition=models.Q(("status", "done")),
                fields=["customer", "completed_at"],
                name="touchpoint_done_customer",
            ),
        ),
        AddIndexConcurrently(
            model_name="touchpoint",
            index=models.Index(
                condition=models.Q(("status", "held")), fields=["customer"], name="touchpoint_held_customer"
            ),
        ),
        migrations.RunPython(add_default_stages, migrations.RunPython.noop),
    ]
