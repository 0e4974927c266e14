"""Statistics of a card's status and batch together (PostgreSQL's extended statistics).

Draft and approved cards are never in a batch, and the others always are: the two columns go
together, but the planner, by default, takes them for independent and multiplies their shares. At
1,000,000 customers it expected 5,000 approved cards outside a batch where there were 43,000, and
so sorted every one of them before the print room's LIMIT instead of walking the mail-by index
(Today: 622 ms for the superuser, 434 ms for an account manager, whose drafts had the same
misestimate; 205 and 269 ms with these statistics, docs/benchmarks-admin.md). Nothing to do
elsewhere (SQLite)."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

NAME = "card_status_batch_stats"


def create_statistics(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {NAME} (mcv, dependencies) ON status, batch_id FROM campaigns_card"
    )
    schema_editor.execute("ANALYZE campaigns_card")


def drop_statistics(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0030_healthsnapshot_customer_index")]

    operations = [migrations.RunPython(create_statistics, drop_statistics)]
