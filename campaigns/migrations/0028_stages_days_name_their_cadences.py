"""The stages report's stored days say which cadences they hold: the figure "<cadence>:counted" = 1
(account manager 0) of each cadence a day counted (campaigns/selectors/reports/stages.py). The
cadence page reads a day for a cadence only when it holds it.

Days written before this migration carry no such figure. The nightly job counted every cadence
active when it wrote them; which cadences were active then is not known any more, so each of those
days is taken to hold the cadences active now (what the stages report itself assumes of them).
Without this, the cadence page would count its moves live for a month after the upgrade.
"""

from django.db import migrations

STAGES = "stages"
BATCH = 2000


def name_the_cadences(apps, schema_editor):
    Cadence = apps.get_model("campaigns", "Cadence")
    DailyFigure = apps.get_model("campaigns", "DailyFigure")
    ReportDay = apps.get_model("campaigns", "ReportDay")
    cadences = list(Cadence.objects.filter(active=True).values_list("pk", "anchor_kind__slug"))
    days = list(ReportDay.objects.filter(report=STAGES).values_list("day", flat=True))
    DailyFigure.objects.bulk_create(
        [
            DailyFigure(report=STAGES, day=day, manager_id=0, kind=slug or "", key=f"{pk}:counted", value=1)
            for day in days
            for pk, slug in cadences
        ],
        batch_size=BATCH,
        ignore_conflicts=True,
    )


def forget_the_cadences(apps, schema_editor):
    DailyFigure = apps.get_model("campaigns", "DailyFigure")
    DailyFigure.objects.filter(report=STAGES, manager_id=0, key__endswith=":counted").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0027_recover_lost_tasks"),
    ]

    operations = [
        migrations.RunPython(name_the_cadences, forget_the_cadences),
    ]
