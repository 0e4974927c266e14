"""Migration operations that build indexes on big tables without stopping the application.

On PostgreSQL, ``CREATE INDEX`` holds a lock that blocks every INSERT, UPDATE and DELETE on the table
until the index is built: minutes on a million customers or five million touchpoints, while the
planner, the import and every save wait. ``CREATE INDEX CONCURRENTLY`` does not block writes, but it
cannot run inside a transaction, so a migration that uses these operations says ``atomic = False``
(tests/test_migrations.py checks that every migration adding an index to a big table does).

A concurrent build that fails half-way (cancelled, a deadlock, the server restarted) leaves an
INVALID index behind, which PostgreSQL keeps up to date but never reads. A non-atomic migration is
not recorded as applied when one of its operations fails, so ``migrate`` runs it again from the
start: each operation here then skips an index that exists and is valid, and drops an INVALID one
(``DROP INDEX CONCURRENTLY``) before building it again. docs/operations.md ("Upgrading") says the same
for people.

Elsewhere (SQLite, the embedded default) ``AddIndexConcurrently`` builds the index as Django's
``AddIndex`` does, and the PostgreSQL-only operations (an extension, a trigram index) do nothing.

Django's migration machinery only: no models (the pure-libraries contract).
"""

from __future__ import annotations

from django.db import DatabaseError, NotSupportedError
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations import AddConstraint, AddIndex
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.models.constraints import UniqueConstraint


class ExtensionNotAvailable(DatabaseError):
    """The PostgreSQL server cannot create an extension a migration needs."""


def _on_postgresql(schema_editor: BaseDatabaseSchemaEditor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def _ensure_not_in_transaction(schema_editor: BaseDatabaseSchemaEditor, what: str) -> None:
    if schema_editor.connection.in_atomic_block and not schema_editor.collect_sql:
        raise NotSupportedError(
            f"{what} builds the index CONCURRENTLY, which cannot run in a transaction: "
            "set atomic = False on the migration."
        )


def _index_state(schema_editor: BaseDatabaseSchemaEditor, name: str) -> str:
    """ "valid", "invalid" (a concurrent build that failed) or "missing"."""
    if schema_editor.collect_sql:
        return "missing"  # sqlmigrate: show the statements that build it
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND pg_catalog.pg_table_is_visible(c.oid)",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return "missing"
    return "valid" if row[0] else "invalid"


def _prepare_concurrent_build(schema_editor: BaseDatabaseSchemaEditor, name: str) -> bool:
    """Whether to build the index: not when it exists and is valid; an INVALID leftover is dropped first."""
    state = _index_state(schema_editor, name)
    if state == "valid":
        return False
    if state == "invalid":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
    return True


class AddIndexConcurrently(AddIndex):
    """``AddIndex`` that builds with ``CREATE INDEX CONCURRENTLY`` on PostgreSQL (migration: atomic = False).

    The index is part of the model state (declared in the model's Meta.indexes). On PostgreSQL an
    existing valid index of the same name is kept and an INVALID one rebuilt; elsewhere it is AddIndex.
    """

    def describe(self) -> str:
        return f"Create index {self.index.name} on {self.model_name} (concurrently on PostgreSQL)"

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if not _on_postgresql(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        _ensure_not_in_transaction(schema_editor, f"Index {self.index.name}")
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model) and _prepare_concurrent_build(
            schema_editor, self.index.name
        ):
            schema_editor.add_index(model, self.index, concurrently=True)  # type: ignore[call-arg]

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if not _on_postgresql(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        _ensure_not_in_transaction(schema_editor, f"Index {self.index.name}")
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)  # type: ignore[call-arg]


class AddUniqueConstraintConcurrently(AddConstraint):
    """``AddConstraint`` of a partial ``UniqueConstraint`` (one with a condition, which PostgreSQL keeps
    as a unique index) built with ``CREATE UNIQUE INDEX CONCURRENTLY`` (migration: atomic = False).

    The constraint is part of the model state (Meta.constraints); on PostgreSQL an existing valid
    index of the same name is kept and an INVALID one rebuilt; elsewhere it is AddConstraint.
    """

    # Set by AddConstraint.__init__ (django-stubs does not declare them).
    model_name: str
    constraint: UniqueConstraint

    def describe(self) -> str:
        return f"Create constraint {self.constraint.name} on {self.model_name} (concurrently on PostgreSQL)"

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if not _on_postgresql(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        _ensure_not_in_transaction(schema_editor, f"Constraint {self.constraint.name}")
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if not _prepare_concurrent_build(schema_editor, self.constraint.name):
            return
        sql = str(self.constraint.create_sql(model, schema_editor))
        if not sql.startswith("CREATE UNIQUE INDEX "):
            raise NotSupportedError(f"Constraint {self.constraint.name} is not a partial unique index")
        schema_editor.execute(sql.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX CONCURRENTLY ", 1), params=None)

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if not _on_postgresql(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        _ensure_not_in_transaction(schema_editor, f"Constraint {self.constraint.name}")
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.constraint.name)}")


class CreateExtension(Operation):
    """``CREATE EXTENSION IF NOT EXISTS`` on PostgreSQL, with a clear error when the server lacks it.

    Nothing happens elsewhere. Migrating backwards leaves the extension installed: other objects
    of the database may use it, and an installed extension costs nothing.
    """

    reversible = True

    def __init__(self, name: str) -> None:
        self.name = name

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if not _on_postgresql(schema_editor):
            return
        statement = f"CREATE EXTENSION IF NOT EXISTS {schema_editor.quote_name(self.name)}"
        if schema_editor.collect_sql:
            schema_editor.execute(statement)
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT installed_version IS NOT NULL FROM pg_available_extensions WHERE name = %s", [self.name]
            )
            row = cursor.fetchone()
        if row is None:
            raise ExtensionNotAvailable(
                f"The PostgreSQL extension {self.name!r} is not available on this database server. It ships with "
                "PostgreSQL's contrib modules: on Debian and Ubuntu in the postgresql-<version> package, on RHEL "
                "and Fedora in postgresql-contrib; on a hosted database, enable it in the provider's settings. "
                "Then run migrate again (docs/operations.md, 'Upgrading')."
            )
        if row[0]:
            return  # installed already
        try:
            schema_editor.execute(statement)
        except DatabaseError as exc:
            raise ExtensionNotAvailable(
                f"Could not create the PostgreSQL extension {self.name!r} ({exc}). Ask a database superuser to "
                f"run CREATE EXTENSION {self.name}; in this database, then run migrate again "
                "(docs/operations.md, 'Upgrading')."
            ) from exc

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        pass

    def describe(self) -> str:
        return f"Create the PostgreSQL extension {self.name} (nothing elsewhere)"

    @property
    def migration_name_fragment(self) -> str:
        return f"create_extension_{self.name}"


class AddTrigramIndex(Operation):
    """A GIN trigram index on ``UPPER(field)``, built concurrently, on PostgreSQL only (needs pg_trgm).

    It serves ``field__icontains`` (Django writes ``UPPER(col::text) LIKE UPPER('%term%')``), which
    is what the admin's search_fields run. It is not part of the model state, because SQLite has
    no such index: the model's Meta names it in a comment. Nothing happens elsewhere.
    """

    reversible = True

    def __init__(self, model_name: str, field: str, name: str) -> None:
        self.model_name = model_name
        self.field = field
        self.name = name

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass

    def _create_sql(self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, state: ProjectState) -> str:
        model = state.apps.get_model(app_label, self.model_name)
        column = model._meta.get_field(self.field).column
        quote = schema_editor.quote_name
        return (
            f"CREATE INDEX CONCURRENTLY {quote(self.name)} ON {quote(model._meta.db_table)} "
            f"USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops)"
        )

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if not _on_postgresql(schema_editor):
            return
        _ensure_not_in_transaction(schema_editor, f"Index {self.name}")
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model) and _prepare_concurrent_build(
            schema_editor, self.name
        ):
            schema_editor.execute(self._create_sql(app_label, schema_editor, to_state))

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if not _on_postgresql(schema_editor):
            return
        _ensure_not_in_transaction(schema_editor, f"Index {self.name}")
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.name)}")

    def describe(self) -> str:
        return f"Create the trigram index {self.name} on UPPER({self.model_name}.{self.field}) (PostgreSQL only)"

    @property
    def migration_name_fragment(self) -> str:
        return self.name.lower()
