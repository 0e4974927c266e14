"""The current health score keeps each measure's line as [measure id, weight, points, reason]
instead of an object that also repeated the measure's name and the effect (about 850 bytes a
customer, rewritten every night for every customer, down to about 250): the name comes from the
measure row when shown, the effect from the weights (campaigns.scoring.combine.stored_lines).

On PostgreSQL the table also leaves half of each page free (fillfactor 50), so that the nightly
update of a score finds room on its own page: a heap-only update, no new entry in the table's
indexes. The pages written before fill up only as they are rewritten (VACUUM FULL rewrites them
all at once). docs/benchmarks-health.md has the figures."""

from typing import Any

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

BATCH = 2000

_TO_COMPACT_SQL = """
UPDATE campaigns_healthscore SET details = (
    SELECT COALESCE(
        jsonb_agg(jsonb_build_array(e -> 'measure', e -> 'weight', e -> 'points', e -> 'reason') ORDER BY n),
        '[]'::jsonb
    )
    FROM jsonb_array_elements(details) WITH ORDINALITY AS x (e, n)
)
WHERE jsonb_typeof(details -> 0) = 'object'
"""


def _compact(details: list[Any]) -> list[Any]:
    return [
        [line.get("measure"), line.get("weight"), line.get("points"), line.get("reason", "")]
        if isinstance(line, dict)
        else line
        for line in details
    ]


def _expanded(details: list[Any], names: dict[int, str]) -> list[Any]:
    total = sum(float(line[1]) for line in details if isinstance(line, list) and line[2] is not None and line[1] > 0)
    expanded: list[Any] = []
    for line in details:
        if not isinstance(line, list):
            expanded.append(line)
            continue
        measure, weight, points, reason = line
        counts = points is not None and weight > 0 and total
        expanded.append(
            {
                "measure": measure,
                "name": names.get(measure, f"(deleted measure {measure})"),
                "weight": weight,
                "points": points,
                "reason": reason,
                "effect": round(float(weight) / total * (points - 100), 1) if counts else 0.0,
            }
        )
    return expanded


def _rewrite(apps: Apps, convert: Any) -> None:
    HealthScore = apps.get_model("campaigns", "HealthScore")
    changed = []
    for score in HealthScore.objects.only("customer_id", "details").iterator(chunk_size=BATCH):
        new = convert(score.details or [])
        if new != score.details:
            score.details = new
            changed.append(score)
        if len(changed) >= BATCH:
            HealthScore.objects.bulk_update(changed, ["details"])
            changed = []
    HealthScore.objects.bulk_update(changed, ["details"])


def to_compact(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_TO_COMPACT_SQL)
    else:
        _rewrite(apps, _compact)


def to_objects(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    names = dict(apps.get_model("campaigns", "HealthMeasure").objects.values_list("id", "name"))
    _rewrite(apps, lambda details: _expanded(details, names))


def leave_room_for_updates(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE campaigns_healthscore SET (fillfactor = 50)")


def fill_pages(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE campaigns_healthscore RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0031_card_status_statistics")]

    operations = [
        migrations.AlterField(
            model_name="healthscore",
            name="details",
            field=models.JSONField(default=list, help_text="Each measure's weight, points and reason."),
        ),
        migrations.RunPython(to_compact, to_objects),
        migrations.RunPython(leave_room_for_updates, fill_pages),
    ]
