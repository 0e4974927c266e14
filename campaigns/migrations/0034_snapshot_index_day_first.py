"""The snapshots' unique index leads with the day: (date, customer) instead of (customer, date).

With the customer first, each night's snapshots went into every customer's part of the index, so a
night wrote (and logged in full after each checkpoint) a page per few customers of an index that
grows with the history: the nightly scoring slowed down day by day. With the day first a night's
snapshots go at the end of the index, in the customers' order. Reads by customer name the days
(HealthSnapshot.objects.of_customer; docs/health.md).

The index on (date, band) goes: the unique index now leads with the day and serves the reports and
the backtest, and the second index cost the nightly run a write per snapshot (and the planner chose
it for a customer's look-up on a day it had no statistics of yet, reading the whole day each time).

On PostgreSQL the new index is built CONCURRENTLY (the table is written every night and read by the
customer pages), then takes over the constraint's name in one short transaction; hence non-atomic.
Run again after a failure, it finishes what is left.
"""

from django.apps.registry import Apps
from django.db import migrations, models, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

import campaigns.models.health

TABLE, NAME, BUILDING = "campaigns_healthsnapshot", "healthsnapshot_one_per_day", "healthsnapshot_one_per_day_new"
DAY_FIRST, CUSTOMER_FIRST = ("date", "customer_id"), ("customer_id", "date")


def _columns(schema_editor: BaseDatabaseSchemaEditor, index: str) -> tuple[str, ...] | None:
    """The columns of a valid index, in order (None: no such valid index)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid, array_agg(a.attname ORDER BY k.n) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE c.relname = %s AND pg_catalog.pg_table_is_visible(c.oid) GROUP BY i.indisvalid",
            [index],
        )
        row = cursor.fetchone()
    if row is not None and not row[0]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(index)}")
        return None
    return tuple(row[1]) if row is not None else None


def _switch(apps: Apps, schema_editor: BaseDatabaseSchemaEditor, new: tuple[str, ...]) -> None:
    """The unique index on the columns ``new``, in that order, under the constraint's name."""
    if schema_editor.connection.vendor != "postgresql":
        model = apps.get_model("campaigns", "HealthSnapshot")
        fields = [column.removesuffix("_id") for column in new]
        old = next(constraint for constraint in model._meta.constraints if constraint.name == NAME)
        schema_editor.remove_constraint(model, old)
        schema_editor.add_constraint(model, models.UniqueConstraint(fields=fields, name=NAME))
        return
    if _columns(schema_editor, NAME) == new:
        return  # done before
    quote = schema_editor.quote_name
    if _columns(schema_editor, BUILDING) is None:
        schema_editor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY {quote(BUILDING)} ON {quote(TABLE)} ({', '.join(map(quote, new))})"
        )
    with transaction.atomic(using=schema_editor.connection.alias):
        schema_editor.execute(f"ALTER TABLE {quote(TABLE)} DROP CONSTRAINT IF EXISTS {quote(NAME)}")
        schema_editor.execute(
            f"ALTER TABLE {quote(TABLE)} ADD CONSTRAINT {quote(NAME)} UNIQUE USING INDEX {quote(BUILDING)}"
        )


DAY_BAND = "healthsnapshot_date_band"


def drop_day_band_index(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {schema_editor.quote_name(DAY_BAND)}")


def add_day_band_index(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    if concurrently:
        _columns(schema_editor, DAY_BAND)  # drops an INVALID one left by a failed build
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS {schema_editor.quote_name(DAY_BAND)} ON {TABLE} (date, band)"
    )


def day_first(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _switch(apps, schema_editor, DAY_FIRST)


def customer_first(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _switch(apps, schema_editor, CUSTOMER_FIRST)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("campaigns", "0033_snapshot_is_the_score")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="healthsnapshot", name=NAME),
                migrations.AddConstraint(
                    model_name="healthsnapshot",
                    constraint=models.UniqueConstraint(fields=["date", "customer"], name=NAME),
                ),
            ],
            database_operations=[migrations.RunPython(day_first, customer_first)],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveIndex(model_name="healthsnapshot", name=DAY_BAND)],
            database_operations=[migrations.RunPython(drop_day_band_index, add_day_band_index)],
        ),
        migrations.AlterField(
            model_name="healthsnapshot",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=campaigns.models.health.cascade_by_day,
                related_name="health_snapshots",
                to="nurture.customer",
            ),
        ),
    ]
