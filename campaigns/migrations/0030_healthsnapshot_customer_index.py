"""A health snapshot's customer has no index of its own: the unique (customer, date) starts with
it and answers every look-up by customer, so the plain one only cost the nightly scoring a write
per row. Dropped CONCURRENTLY (non-atomic); the foreign key's constraint stays as it is."""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

TABLE = "campaigns_healthsnapshot"


def _index(schema_editor: BaseDatabaseSchemaEditor) -> tuple[str, str]:
    name = schema_editor.quote_name(schema_editor._create_index_name(TABLE, ["customer_id"]))
    return name, "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def drop_customer_index(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    name, concurrently = _index(schema_editor)
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


def add_customer_index(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    name, concurrently = _index(schema_editor)
    schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {TABLE} (customer_id)")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("campaigns", "0029_health_moves_stored")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="healthsnapshot",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="health_snapshots",
                        to="nurture.customer",
                    ),
                )
            ],
            database_operations=[migrations.RunPython(drop_customer_index, add_customer_index)],
        ),
    ]
