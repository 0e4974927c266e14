"""A JSON field kept as the text written: PostgreSQL's ``json`` type instead of ``jsonb``.

For rows written in bulk and read whole, never searched inside: ``json`` stores the text as given
(checked, not converted), so writing it costs no conversion to ``jsonb``'s binary form, and it
takes about 40% less room (no per-element headers). The price: no operators inside the value, and
no equality (compare ``column::text``). Elsewhere (SQLite) it is Django's JSONField as it is.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models


class JSONTextField(models.JSONField):
    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # The driver parses json (Django has it hand jsonb over as text only): already a value.
        if value is not None and not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


def compared(model: Any, column: str, sql: str) -> str:
    """An expression of a model's column as a row comparison (IS DISTINCT FROM) can read it: a
    JSONTextField's text on PostgreSQL, where json has no equality; the column as it is otherwise."""
    field = model._meta.get_field(column)
    if isinstance(field, JSONTextField) and connection.vendor == "postgresql":
        return f"{sql}::text"
    return sql
