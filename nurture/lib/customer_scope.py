"""Which customers one piece of work covers: a range of ids (a planner chunk), some ids (a re-plan
after an edit), or everyone. One value instead of (first_id, last_id, customer_ids) in every call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q


@dataclass(frozen=True)
class CustomerScope:
    first_id: int | None = None
    last_id: int | None = None
    ids: tuple[int, ...] | None = None

    @classmethod
    def everyone(cls) -> CustomerScope:
        return cls()

    @classmethod
    def id_range(cls, first_id: int, last_id: int) -> CustomerScope:
        """The customers with ids from first_id to last_id, both included."""
        return cls(first_id=first_id, last_id=last_id)

    @classmethod
    def of(cls, ids: Iterable[int]) -> CustomerScope:
        return cls(ids=tuple(int(pk) for pk in ids))

    @property
    def is_empty(self) -> bool:
        """Some ids were asked for, and there are none: the work has nothing to do."""
        return self.ids is not None and not self.ids

    def q(self, field: str = "customer_id") -> Q:
        """The scope as a filter on the field that holds the customer's id."""
        condition = Q()
        if self.ids is not None:
            condition &= Q(**{f"{field}__in": list(self.ids)})
        if self.first_id is not None:
            condition &= Q(**{f"{field}__gte": self.first_id})
        if self.last_id is not None:
            condition &= Q(**{f"{field}__lte": self.last_id})
        return condition

    def sql(self, columns: Sequence[str]) -> tuple[str, list[Any]]:
        """The scope as an SQL condition on each of the columns (ANDed) and its parameters.

        On every joined table, because PostgreSQL carries equalities across a join but not
        ranges: a range on the customer table alone would read the whole milestone or touchpoint table.
        """
        parts: list[str] = []
        params: list[Any] = []
        for column in columns:
            if self.ids is not None:
                parts.append(f"{column} IN ({', '.join(['%s'] * len(self.ids))})" if self.ids else "FALSE")
                params += self.ids
            if self.first_id is not None:
                parts.append(f"{column} >= %s")
                params.append(self.first_id)
            if self.last_id is not None:
                parts.append(f"{column} <= %s")
                params.append(self.last_id)
        return (" AND ".join(parts) or "TRUE"), params
