"""Seasonal cadences: a cadence counts from a date (every year, once, or a named public holiday of the
customer's country) instead of a milestone kind; a segment of several tags, tiers, countries and
excluded customers; touchpoints of a date-anchored rule keyed by (customer, rule, season).

The single segment tag becomes the first of the cadence's tags (copied before the column goes).
The planner's slots of unfinished runs are dropped: they name no cadence, and the next sweep plans
from the last completed one (docs/calendar-rules.md, rule 5).
"""

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from nurture.lib.migrations import AddUniqueConstraintConcurrently


def copy_segment_tag(apps: Any, schema_editor: Any) -> None:
    Cadence = apps.get_model("campaigns", "Cadence")
    Through = Cadence.tags.through
    Through.objects.bulk_create(
        [
            Through(cadence_id=pk, tag_id=tag_id)
            for pk, tag_id in Cadence.objects.filter(tag__isnull=False).values_list("pk", "tag_id")
        ],
        ignore_conflicts=True,
    )


def copy_first_tag_back(apps: Any, schema_editor: Any) -> None:
    Cadence = apps.get_model("campaigns", "Cadence")
    for cadence in Cadence.objects.all():
        first = cadence.tags.order_by("pk").first()
        if first is not None:
            Cadence.objects.filter(pk=cadence.pk).update(tag=first)


def drop_slots(apps: Any, schema_editor: Any) -> None:
    apps.get_model("campaigns", "PlanSlot").objects.all().delete()


class Migration(migrations.Migration):
    # Non-atomic: the unique index on touchpoints is built CONCURRENTLY on PostgreSQL, last, so
    # touchpoints stay writable meanwhile (nurture/lib/migrations.py; docs/operations.md, "Upgrading").
    atomic = False

    dependencies = [
        ("campaigns", "0017_health"),
        ("nurture", "0018_seasonal"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="cadence",
            name="tags",
            field=models.ManyToManyField(
                blank=True,
                help_text="Only customers with at least one of these tags; none for every customer.",
                related_name="cadences",
                to="nurture.tag",
                verbose_name="segment tags",
            ),
        ),
        migrations.RunPython(copy_segment_tag, copy_first_tag_back),
        migrations.RemoveField(
            model_name="cadence",
            name="tag",
        ),
        migrations.RunPython(drop_slots, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="planslot",
            name="tag",
        ),
        migrations.AddField(
            model_name="cadence",
            name="anchor",
            field=models.CharField(
                choices=[
                    ("milestone", "A milestone of the customer"),
                    ("annual", "Every year on a day and month"),
                    ("once", "Once, on a date"),
                    ("holiday", "A public holiday of the customer's country"),
                ],
                default="milestone",
                help_text="A milestone of each customer, or a date of the calendar (a seasonal cadence).",
                max_length=10,
                verbose_name="counts from",
            ),
        ),
        migrations.AddField(
            model_name="cadence",
            name="anchor_date",
            field=models.DateField(
                blank=True, help_text="Once: the date. Nothing after it.", null=True, verbose_name="date"
            ),
        ),
        migrations.AddField(
            model_name="cadence",
            name="anchor_day",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="Every year: the day of the month. 29 February falls on 28 February (or 1 March, by the NURTURE_LEAP_DAY setting) in other years.",
                null=True,
                verbose_name="day",
            ),
        ),
        migrations.AddField(
            model_name="cadence",
            name="anchor_holiday",
            field=models.CharField(
                blank=True,
                help_text="A public holiday by its English name, e.g. Thanksgiving, Christmas Day; several names separated by ';' (Chinese New Year; Lunar New Year). Each customer gets it on the date their own country keeps it; a country that does not keep it is not reached.",
                max_length=200,
                verbose_name="holiday",
            ),
        ),
        migrations.AddField(
            model_name="cadence",
            name="anchor_month",
            field=models.PositiveSmallIntegerField(
                blank=True, help_text="Every year: the month, 1 to 12 (12 = December).", null=True, verbose_name="month"
            ),
        ),
        migrations.AddField(
            model_name="cadence",
            name="countries",
            field=models.CharField(
                blank=True,
                help_text="Only customers in these countries (ISO codes), e.g. US, CA; empty for every country.",
                max_length=500,
            ),
        ),
        migrations.AddField(
            model_name="cadence",
            name="excluded_customers",
            field=models.ManyToManyField(
                blank=True,
                help_text="These customers never get this cadence's touchpoints.",
                related_name="excluded_from_cadences",
                to="nurture.customer",
            ),
        ),
        migrations.AddField(
            model_name="cadence",
            name="tiers",
            field=models.CharField(
                blank=True,
                help_text="Only customers of these tiers, e.g. gold, silver; empty for every tier (and none).",
                max_length=500,
            ),
        ),
        migrations.AddField(
            model_name="planslot",
            name="cadence",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="campaigns.cadence"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="planslot",
            name="season",
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="touchpoint",
            name="season",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="For a rule of a date-anchored (seasonal) cadence: the year of its date; empty otherwise.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="cadence",
            name="anchor_kind",
            field=models.ForeignKey(
                blank=True,
                help_text="The rules count from milestones of this kind (cadences counting from a milestone).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="cadences",
                to="nurture.milestonekind",
                verbose_name="anchor milestone kind",
            ),
        ),
        migrations.AlterField(
            model_name="planslot",
            name="kind",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="nurture.milestonekind"
            ),
        ),
        migrations.AddConstraint(
            model_name="cadence",
            constraint=models.CheckConstraint(
                condition=models.Q(("anchor__in", ["milestone", "annual", "once", "holiday"])),
                name="cadence_anchor_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="cadence",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("anchor", "milestone"), ("anchor_kind__isnull", False)),
                    models.Q(("anchor", "annual"), ("anchor_day__isnull", False), ("anchor_month__isnull", False)),
                    models.Q(("anchor", "once"), ("anchor_date__isnull", False)),
                    models.Q(("anchor", "holiday"), models.Q(("anchor_holiday", ""), _negated=True)),
                    _connector="OR",
                ),
                name="cadence_anchor_complete",
            ),
        ),
        migrations.AddConstraint(
            model_name="cadence",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("anchor_month__isnull", True),
                    models.Q(
                        ("anchor_day__gte", 1),
                        ("anchor_month__gte", 1),
                        ("anchor_month__lte", 12),
                        models.Q(
                            models.Q(("anchor_day__lte", 31), ("anchor_month__in", [1, 3, 5, 7, 8, 10, 12])),
                            models.Q(("anchor_day__lte", 30), ("anchor_month__in", [4, 6, 9, 11])),
                            models.Q(("anchor_day__lte", 29), ("anchor_month", 2)),
                            _connector="OR",
                        ),
                    ),
                    _connector="OR",
                ),
                name="cadence_anchor_day_of_year",
            ),
        ),
        migrations.AddConstraint(
            model_name="cadence",
            constraint=models.CheckConstraint(
                condition=models.Q(("tiers__regex", "^([-a-z0-9_]+(,[-a-z0-9_]+)*)?$")), name="cadence_tiers_list"
            ),
        ),
        migrations.AddConstraint(
            model_name="cadence",
            constraint=models.CheckConstraint(
                condition=models.Q(("countries__regex", "^([A-Z]{2}(,[A-Z]{2})*)?$")), name="cadence_countries_list"
            ),
        ),
        migrations.AddConstraint(
            model_name="touchpoint",
            constraint=models.CheckConstraint(
                condition=models.Q(("season__isnull", True), ("milestone__isnull", True), _connector="OR"),
                name="touchpoint_milestone_or_season",
            ),
        ),
        AddUniqueConstraintConcurrently(
            model_name="touchpoint",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    models.Q(("status", "cancelled"), _negated=True),
                    ("follow_up_of__isnull", True),
                    ("season__isnull", False),
                ),
                fields=("customer", "rule", "season"),
                name="touchpoint_one_live_per_season",
            ),
        ),
    ]
