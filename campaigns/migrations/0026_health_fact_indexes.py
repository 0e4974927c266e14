"""Covering indexes for the health score's facts (campaigns.selectors.health, docs/benchmarks-health.md):

- a customer's done touchpoints by completion (touchpoint_done_customer) now carry what the facts
  read (the touchpoint's id, kind and outcome): a chunk's touches are read from the index alone, in
  customer order. Built under a new name, the old index dropped, the new one renamed;
- the mailed and returned cards by touchpoint, with their status and return date.

A chunk's facts took about 40% less time on 1,000,000 customers. Built and dropped CONCURRENTLY
(nurture/lib/migrations.py), hence non-atomic.
"""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from nurture.lib.migrations import AddIndexConcurrently

OLD, NEW = "touchpoint_done_customer", "touchpoint_done_customer_cover"


def _concurrently(schema_editor: BaseDatabaseSchemaEditor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def drop_old_index(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(f"DROP INDEX {_concurrently(schema_editor)}IF EXISTS {schema_editor.quote_name(OLD)}")


def add_old_index(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(
        f"CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS {schema_editor.quote_name(OLD)} "
        "ON campaigns_touchpoint (customer_id, completed_at) WHERE status = 'done'"
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("campaigns", "0025_business_day_offsets")]

    operations = [
        AddIndexConcurrently(
            model_name="touchpoint",
            index=models.Index(
                condition=models.Q(("status", "done")),
                fields=["customer", "completed_at"],
                include=["id", "kind", "outcome"],
                name=NEW,
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveIndex(model_name="touchpoint", name=OLD)],
            database_operations=[migrations.RunPython(drop_old_index, add_old_index)],
        ),
        migrations.RenameIndex(model_name="touchpoint", new_name=OLD, old_name=NEW),
        AddIndexConcurrently(
            model_name="card",
            index=models.Index(
                condition=models.Q(("status__in", ["mailed", "returned"])),
                fields=["touchpoint"],
                include=["status", "returned_at"],
                name="card_sent_by_touchpoint",
            ),
        ),
    ]
