"""Migrations on the big tables build their indexes without stopping the application.

On PostgreSQL a plain CREATE INDEX blocks every write to the table while it builds: minutes at a
million customers or five million touchpoints. So every migration since nurture 0011 and campaigns
0012 that adds an index to customers, milestones, touchpoints or cards builds it concurrently, in a
non-atomic migration (nurture/lib/migrations.py; docs/operations.md, "Upgrading").
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently as PostgresAddIndexConcurrently
from django.core.management import call_command
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation

from nurture.lib import migrations as ours
from tests.factories import make_customer

# (app label, model name) of the big tables.
BIG_MODELS = {("nurture", "customer"), ("nurture", "milestone"), ("campaigns", "touchpoint"), ("campaigns", "card")}
BIG_TABLES = ("nurture_customer", "nurture_milestone", "campaigns_touchpoint", "campaigns_card")
# The first migration of each app held to the rule.
SINCE = {"nurture": 11, "campaigns": 12}
CONCURRENT_OPERATIONS = (
    ours.AddIndexConcurrently,
    ours.AddTrigramIndex,
    ours.AddUniqueConstraintConcurrently,
    PostgresAddIndexConcurrently,
)


def checked_migrations() -> Iterator[migrations.Migration]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for (app_label, name), migration in sorted(loader.disk_migrations.items()):
        number = re.match(r"\d+", name)
        if app_label in SINCE and number and int(number.group()) >= SINCE[app_label]:
            yield migration


def _builds_an_index(field: Any) -> bool:
    return bool(getattr(field, "db_index", False) or field.unique) and not field.primary_key


def index_operations(migration: migrations.Migration) -> list[tuple[Operation, str]]:
    """The operations that build an index on a big table, each with what it is."""
    found: list[tuple[Operation, str]] = []
    for operation in migration.operations:
        model = (migration.app_label, getattr(operation, "model_name", "") or "")
        on_big_table = (model[0], model[1].lower()) in BIG_MODELS
        if isinstance(operation, migrations.AddIndex | ours.AddTrigramIndex) and on_big_table:
            found.append((operation, "an index"))
        elif isinstance(operation, migrations.AddField | migrations.AlterField) and on_big_table:
            if _builds_an_index(operation.field):
                found.append((operation, f"field {operation.name} with an index"))
        elif isinstance(operation, migrations.AddConstraint) and on_big_table:
            constraint = getattr(operation, "constraint", None)
            if isinstance(constraint, models.UniqueConstraint):
                found.append((operation, f"unique constraint {constraint.name}"))
        elif isinstance(operation, migrations.RunSQL) and re.search(
            r"CREATE\s+(UNIQUE\s+)?INDEX", str(operation.sql), re.IGNORECASE
        ):
            found.append((operation, "CREATE INDEX in SQL"))
    return found


def test_the_rule_sees_this_changes_migrations():
    names = {f"{m.app_label}.{m.name}": len(index_operations(m)) for m in checked_migrations()}

    assert names["nurture.0011_customer_search"] == 4
    assert names["campaigns.0012_card_mail_by"] == 1


@pytest.mark.parametrize("migration", list(checked_migrations()), ids=lambda m: f"{m.app_label}.{m.name}")
def test_indexes_on_big_tables_are_built_concurrently_in_a_non_atomic_migration(migration):
    operations = index_operations(migration)
    if not operations:
        return
    assert migration.atomic is False, f"{migration.app_label}.{migration.name} must set atomic = False"
    for operation, what in operations:
        if isinstance(operation, migrations.RunSQL):
            assert re.search(r"INDEX\s+CONCURRENTLY", str(operation.sql), re.IGNORECASE), what
        else:
            assert isinstance(operation, CONCURRENT_OPERATIONS), (
                f"{migration.app_label}.{migration.name}: {what} is built with a plain CREATE INDEX; "
                "use nurture.lib.migrations.AddIndexConcurrently (an index added by a field or a unique "
                "constraint: add the field without it, then the index concurrently)"
            )


# --- The SQL on PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def postgresql(on_postgresql: bool) -> None:
    if not on_postgresql:
        pytest.skip("CREATE INDEX CONCURRENTLY is PostgreSQL's")


@pytest.mark.django_db
@pytest.mark.parametrize("migration", list(checked_migrations()), ids=lambda m: f"{m.app_label}.{m.name}")
def test_sqlmigrate_builds_every_index_concurrently(postgresql, migration):
    out = io.StringIO()
    call_command("sqlmigrate", migration.app_label, migration.name, stdout=out)
    sql = out.getvalue()

    statements = re.findall(r"CREATE\s+(?:UNIQUE\s+)?INDEX\b[^;]*", sql, re.IGNORECASE)
    on_big_tables = [s for s in statements if re.search(rf'\sON\s+"({"|".join(BIG_TABLES)})"', s)]
    for statement in on_big_tables:
        assert "CONCURRENTLY" in statement.upper(), statement
    assert "BEGIN;" not in sql or not on_big_tables, "a migration that builds an index concurrently is not atomic"


@pytest.mark.django_db
def test_sqlmigrate_shows_the_extension_and_the_concurrent_trigram_indexes(postgresql):
    out = io.StringIO()
    call_command("sqlmigrate", "nurture", "0011_customer_search", stdout=out)
    sql = out.getvalue()

    assert 'CREATE EXTENSION IF NOT EXISTS "pg_trgm"' in sql
    assert sql.count("CREATE INDEX CONCURRENTLY") == 4
    assert 'USING gin ((UPPER("last_name"::text)) gin_trgm_ops)' in sql


@pytest.mark.django_db
def test_a_missing_extension_is_a_clear_error(postgresql):
    from django.db.migrations.state import ProjectState

    operation = ours.CreateExtension("nurture_no_such_extension")
    with connection.schema_editor(atomic=False) as editor, pytest.raises(ours.ExtensionNotAvailable) as raised:
        operation.database_forwards("nurture", editor, ProjectState(), ProjectState())

    assert "not available on this database server" in str(raised.value)
    assert "postgresql-contrib" in str(raised.value)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_invalid_index_left_by_a_failed_concurrent_build_is_built_again(postgresql):
    from django.db.migrations.state import ProjectState

    state = MigrationLoader(connection).project_state(("nurture", "0011_customer_search"))
    operation = ours.AddTrigramIndex(model_name="customer", field="company", name="customer_company_trgm")

    def validity() -> bool | None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
                ["customer_company_trgm"],
            )
            row = cursor.fetchone()
        return None if row is None else bool(row[0])

    make_customer(company="Same")
    make_customer(company="Same")
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS customer_company_trgm")
        # A concurrent build that fails (here: a duplicate for a unique index) leaves an INVALID index.
        with pytest.raises(Exception, match="could not create unique index"):
            cursor.execute("CREATE UNIQUE INDEX CONCURRENTLY customer_company_trgm ON nurture_customer (company)")
    assert validity() is False

    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("nurture", editor, ProjectState(), state)
    assert validity() is True

    with connection.schema_editor(atomic=False) as editor:  # run again: the valid index is kept
        operation.database_forwards("nurture", editor, ProjectState(), state)
    assert validity() is True


@pytest.mark.django_db
def test_the_planner_has_statistics_of_a_cards_status_and_batch_together(postgresql):
    """Draft and approved cards are never in a batch: without these statistics the planner takes
    the two columns for independent and misjudges the print room's queue (campaigns 0031)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.stxkind::text[], array_agg(a.attname::text ORDER BY a.attname) "
            "FROM pg_statistic_ext s JOIN pg_attribute a ON a.attrelid = s.stxrelid AND a.attnum = ANY (s.stxkeys) "
            "WHERE s.stxname = 'card_status_batch_stats' AND s.stxrelid = 'campaigns_card'::regclass "
            "GROUP BY s.stxkind"
        )
        rows = cursor.fetchall()
    assert len(rows) == 1
    kinds, columns = rows[0]
    assert set(kinds) >= {"m", "f"}  # most common combinations, functional dependencies
    assert columns == ["batch_id", "status"]


@pytest.mark.django_db
def test_the_current_scores_become_the_snapshots_of_their_day():
    """campaigns 0033: each current score's lines are copied into the snapshot of its day (which
    kept points only), or make that snapshot when there is none; other days keep their points."""
    import importlib

    from campaigns.models import HealthSnapshot

    step = importlib.import_module("campaigns.migrations.0033_snapshot_is_the_score")
    kept, copied, made = make_customer(), make_customer(), make_customer()
    lines = [[7, 2.0, 40, "Last touch 100 days ago"], [8, 1.0, None, "No data"]]
    HealthSnapshot.objects.create(customer=kept, date="2026-01-01", score=50, band="yellow", details=[[7, 50]])
    HealthSnapshot.objects.create(customer=copied, date="2026-01-01", score=70, band="yellow", details=[[7, 60]])
    HealthSnapshot.objects.create(customer=copied, date="2026-01-02", score=40, band="red", details=[[7, 40]])
    # The table the migration reads, as it was (it is gone from the test database).
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE campaigns_healthscore (customer_id bigint PRIMARY KEY, as_of date, computed smallint, "
            "score smallint, band varchar(10), overridden boolean, measures_used smallint, measures_total smallint, "
            "details jsonb)"
        )
        for customer in (copied, made):
            cursor.execute(
                "INSERT INTO campaigns_healthscore VALUES (%s, '2026-01-02', 40, 40, 'red', false, 1, 2, %s)",
                [customer.pk, json.dumps(lines)],
            )
    editor: Any = SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))

    step.copy_current_scores(None, editor)

    def stored(customer: Any) -> list[tuple[str, Any]]:
        rows = HealthSnapshot.objects.filter(customer=customer).order_by("date")
        return [(row.date.isoformat(), row.details) for row in rows]

    assert stored(kept) == [("2026-01-01", [[7, 50]])]
    assert stored(copied) == [("2026-01-01", [[7, 60]]), ("2026-01-02", lines)]
    assert stored(made) == [("2026-01-02", lines)]
    latest = HealthSnapshot.objects.latest_of(made)
    assert latest is not None
    assert (latest.score, latest.band, latest.measures_used, latest.measures_total) == (40, "red", 1, 2)
    assert [line["reason"] for line in latest.lines()] == ["Last touch 100 days ago", "No data"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_snapshots_unique_index_leads_with_the_day_and_back(postgresql):
    """campaigns 0034: the unique (customer, date) becomes (date, customer), built concurrently
    under a temporary name, and back; the rows stay and a second snapshot of a day is refused."""
    import importlib

    from django.db import IntegrityError, transaction

    from campaigns.models import HealthSnapshot

    step = importlib.import_module("campaigns.migrations.0034_snapshot_index_day_first")
    customer = make_customer()
    HealthSnapshot.objects.create(customer=customer, date="2026-01-01", score=50, band="yellow")

    def columns() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE c.relname = 'healthsnapshot_one_per_day' ORDER BY k.n"
            )
            return [row[0] for row in cursor.fetchall()]

    def refuses_a_second() -> bool:
        try:
            with transaction.atomic():
                HealthSnapshot.objects.create(customer=customer, date="2026-01-01", score=60, band="yellow")
        except IntegrityError:
            return True
        return False

    assert columns() == ["date", "customer_id"]
    for step_function, expected in (
        (step.customer_first, ["customer_id", "date"]),
        (step.day_first, ["date", "customer_id"]),
    ):
        with connection.schema_editor(atomic=False) as editor:
            step_function(None, editor)
        assert columns() == expected
        assert refuses_a_second()
        assert HealthSnapshot.objects.filter(customer=customer).count() == 1
    with connection.schema_editor(atomic=False) as editor:  # run again: nothing left to do
        step.day_first(None, editor)
    assert columns() == ["date", "customer_id"]
