"""The health report's movement between bands now reads the day's band changes as stored totals
(report "health-moves"), written with the band totals when a day's run is over. The days whose
band totals were stored before get their movement totals here, so that the report need not count
their band changes again; a day without them is counted from its band change rows."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import Count

HEALTH, MOVES = "health", "health-moves"


def store_moves(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    ReportDay = apps.get_model("campaigns", "ReportDay")
    DailyFigure = apps.get_model("campaigns", "DailyFigure")
    HealthBandChange = apps.get_model("campaigns", "HealthBandChange")
    done = set(ReportDay.objects.filter(report=MOVES).values_list("day", flat=True))
    days = [day for day in ReportDay.objects.filter(report=HEALTH).values_list("day", flat=True) if day not in done]
    for day in days:
        rows = (
            HealthBandChange.objects.filter(date=day)
            .values_list("customer__account_manager_id", "from_band", "to_band")
            .annotate(changes=Count("id"))
            .order_by()
        )
        totals: dict[tuple[int, str], int] = {}
        for manager, from_band, to_band, changes in rows:
            key = (manager or 0, f"{from_band}>{to_band}")
            totals[key] = totals.get(key, 0) + changes
        DailyFigure.objects.bulk_create(
            [
                DailyFigure(report=MOVES, day=day, manager_id=manager, kind="", key=key, value=value)
                for (manager, key), value in totals.items()
            ]
        )
        ReportDay.objects.create(report=MOVES, day=day)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0028_stages_days_name_their_cadences")]

    operations = [migrations.RunPython(store_moves, migrations.RunPython.noop)]
