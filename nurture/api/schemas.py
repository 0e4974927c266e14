"""Schemas the API's routers share: errors, pages, and the customer as the API shows it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Schema
from ninja.errors import HttpError
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from nurture.models import Customer
from nurture.services.customers import FieldProblem, InputError


def _in_utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None


# An instant: with its offset (a time without one is refused), kept in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
# A calendar date a milestone may sensibly fall on.
Day = Annotated[dt.date, Field(ge=dt.date(1900, 1, 1), le=dt.date(2199, 12, 31))]

# A row id as PostgreSQL's bigint holds it (a cursor, a touchpoint's id).
RowId = Annotated[int, Field(ge=0, le=2**63 - 1)]

# The largest page a list returns.
MAX_PAGE = 500


class ErrorOut(Schema):
    """A string for 401, 403, 404 and 429; for 422 one entry per problem, its `loc` naming the field."""

    detail: str | list[dict[str, Any]]


ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 429: ErrorOut}


def problems_detail(error: InputError, *, root: tuple[str | int, ...] = ("body",)) -> list[dict[str, Any]]:
    return [_problem(problem, root) for problem in error.problems]


def _problem(problem: FieldProblem, root: tuple[str | int, ...]) -> dict[str, Any]:
    return {"type": "invalid", "loc": [*root, *problem.field.split(".")], "msg": problem.message}


def problems_detail_indexed(error: InputError, *, root: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """For lists (events): the problem's position stands between the list and the field."""
    return [
        {"type": "invalid", "loc": [*root, problem.index, *problem.field.split(".")], "msg": problem.message}
        for problem in error.problems
    ]


CustomerStatus = Literal["active", "paused", "do_not_contact", "churned"]


class CustomerFields(BaseModel):
    """A customer's writable fields; on an update, those left out keep their value.

    Request bodies are plain pydantic models: ninja's Schema reads attributes through a getter
    made for ORM objects, which costs more than the rest of a 1,000-event batch together."""

    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    company: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=50)
    address_line1: str | None = Field(None, max_length=200)
    address_line2: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=10)
    postal_code: str | None = Field(None, max_length=20)
    country: str | None = Field(None, max_length=2, description="ISO 3166-1 alpha-2, e.g. DE")
    time_zone: str | None = Field(None, max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    status: CustomerStatus | None = None
    tier: str | None = Field(None, max_length=50, description="Loyalty tier, e.g. gold")
    tags: list[str] | None = Field(None, description="Tag slugs; replaces the customer's tags when given")

    def given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set if name != "tags"}


class CustomerOut(Schema):
    external_id: str
    first_name: str
    last_name: str
    company: str
    email: str
    phone: str
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    country: str
    time_zone: str
    status: CustomerStatus
    tier: str
    tags: list[str]
    account_manager: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_tags(customer: Customer) -> list[str]:
        return sorted(tag.slug for tag in customer.tags.all())

    @staticmethod
    def resolve_account_manager(customer: Customer) -> str | None:
        manager = customer.account_manager
        return manager.get_username() if manager is not None else None


def page_of(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    """The first `limit` rows and the cursor of the next page (rows were fetched limit + 1)."""
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1].pk)
    return rows, None


class Unprocessable(HttpError):
    """422 with one entry per problem, each naming its field (rendered by config/api.py)."""

    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__(422, "; ".join(str(item["msg"]) for item in detail))
        self.detail = detail
