"""The day's snapshot is the current score: a customer's latest snapshot keeps each measure's line
([measure id, weight, points, reason]) and is what the customer page, the alert and the export
show; the separate current score (campaigns_healthscore) goes. The nightly scoring writes one row
per customer instead of two, and the snapshots no longer check their customer with a foreign key
constraint (checking it locked each customer's row for every snapshot written); deleting a customer
still deletes their snapshots (Django's on_delete). docs/benchmarks-health.md has the figures.

The snapshots' points become their details, kept as PostgreSQL's json (the text as written, 40%
smaller than jsonb and nothing to convert; nurture/lib/json_text.py): days scored before keep their
[measure, points] pairs (campaigns.scoring.combine.snapshot_points reads both); each current score's
lines are copied into the snapshot of its day, so that the "why" shown is the same after the
migration.

Backwards, the current scores are made again from each customer's latest snapshot, and the lines
kept in the snapshots are cut back to their points."""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

import nurture.lib.json_text

# Portable SQL (PostgreSQL and SQLite): a snapshot of the current score's day takes its lines; a
# current score without a snapshot of its day (none is written so) gets one.
COPY_CURRENT_SCORES = [
    """
    UPDATE campaigns_healthsnapshot SET details = (
        SELECT h.details FROM campaigns_healthscore h
        WHERE h.customer_id = campaigns_healthsnapshot.customer_id AND h.as_of = campaigns_healthsnapshot.date
    )
    WHERE EXISTS (
        SELECT 1 FROM campaigns_healthscore h
        WHERE h.customer_id = campaigns_healthsnapshot.customer_id AND h.as_of = campaigns_healthsnapshot.date
    )
    """,
    """
    INSERT INTO campaigns_healthsnapshot
        (customer_id, date, computed, score, band, overridden, measures_used, measures_total, details)
    SELECT h.customer_id, h.as_of, h.computed, h.score, h.band, h.overridden, h.measures_used,
        h.measures_total, h.details
    FROM campaigns_healthscore h
    WHERE NOT EXISTS (
        SELECT 1 FROM campaigns_healthsnapshot s WHERE s.customer_id = h.customer_id AND s.date = h.as_of
    )
    """,
]


def copy_current_scores(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for statement in COPY_CURRENT_SCORES:
        schema_editor.execute(statement)


def current_scores_again(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Backwards: each customer's latest snapshot as their current score, and the snapshots' lines
    cut back to [measure, points] pairs."""
    HealthScore = apps.get_model("campaigns", "HealthScore")
    HealthSnapshot = apps.get_model("campaigns", "HealthSnapshot")
    latest = HealthSnapshot.objects.order_by("customer_id", "-date")
    seen: set[int] = set()
    scores = []
    for snapshot in latest.iterator(chunk_size=2000):
        if snapshot.customer_id in seen:
            continue
        seen.add(snapshot.customer_id)
        lines = [line for line in snapshot.details if isinstance(line, list) and len(line) == 4]
        scores.append(
            HealthScore(
                customer_id=snapshot.customer_id,
                as_of=snapshot.date,
                computed=snapshot.computed,
                score=snapshot.score,
                band=snapshot.band,
                overridden=snapshot.overridden,
                measures_used=snapshot.measures_used,
                measures_total=snapshot.measures_total,
                details=lines,
            )
        )
    HealthScore.objects.bulk_create(scores, batch_size=2000)
    for snapshot in HealthSnapshot.objects.iterator(chunk_size=2000):
        pairs = [[line[0], line[2]] if isinstance(line, list) and len(line) == 4 else line for line in snapshot.details]
        if pairs != snapshot.details:
            HealthSnapshot.objects.filter(pk=snapshot.pk).update(details=pairs)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0032_healthscore_compact_details")]

    operations = [
        migrations.RenameField(model_name="healthsnapshot", old_name="points", new_name="details"),
        migrations.AlterField(
            model_name="healthsnapshot",
            name="details",
            field=nurture.lib.json_text.JSONTextField(
                default=list, help_text="Each measure's weight, points and reason."
            ),
        ),
        migrations.RunPython(copy_current_scores, current_scores_again),
        migrations.AlterField(
            model_name="healthsnapshot",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="health_snapshots",
                to="nurture.customer",
            ),
        ),
        migrations.AlterField(
            model_name="healthsnapshot",
            name="computed",
            field=models.PositiveSmallIntegerField(help_text="The weighted mean of the measures.", null=True),
        ),
        migrations.AlterField(
            model_name="healthsnapshot",
            name="score",
            field=models.PositiveSmallIntegerField(help_text="The score in force: the override's, if any.", null=True),
        ),
        migrations.DeleteModel(name="HealthScore"),
    ]
