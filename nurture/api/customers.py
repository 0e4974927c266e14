"""/api/v1/customers: list (filters), retrieve and upsert by external_id; their milestones.

Reads need customers:read, writes customers:write. A token sees and changes only the
customers its owner sees; another owner's customer answers 404 as if it did not exist (and an
upsert of one answers 409: its external_id is taken).
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from nurture.api.auth import requires, token_of
from nurture.api.schemas import (
    ERRORS,
    MAX_PAGE,
    CustomerFields,
    CustomerOut,
    CustomerStatus,
    Day,
    ErrorOut,
    Instant,
    RowId,
    Unprocessable,
    page_of,
    problems_detail,
)
from nurture.models import Customer, Milestone, Scope
from nurture.services.customers import CustomerInput, InputError, MilestoneInput, customers_upsert, milestones_add

router = Router(tags=["customers"])


class CustomerFilters(Schema):
    status: CustomerStatus | None = None
    tier: str | None = None
    tag: str | None = Field(None, description="A tag's slug")
    country: str | None = None
    updated_since: Instant | None = Field(None, description="Changed at or after this time")
    limit: int = Field(100, ge=1, le=MAX_PAGE)
    after: RowId | None = Field(None, description="The `next` cursor of the previous page")


class CustomerPage(Schema):
    items: list[CustomerOut]
    next: str | None


class MilestoneIn(Schema):
    kind: str = Field(..., min_length=1, max_length=50, description="The kind's slug, e.g. renewal")
    date: Day
    note: str = Field("", max_length=200)


class MilestoneOut(Schema):
    kind: str
    date: dt.date
    note: str

    @staticmethod
    def resolve_kind(milestone: Milestone) -> str:
        return milestone.kind.slug


class MilestoneCreated(Schema):
    kind: str
    date: dt.date
    note: str
    created: bool


def _customer(request: HttpRequest, external_id: str) -> Customer:
    customer = (
        Customer.objects.visible_to(token_of(request).owner)
        .select_related("account_manager")
        .prefetch_related("tags")
        .filter(external_id=external_id)
        .first()
    )
    if customer is None:
        raise HttpError(404, f"No customer {external_id!r} among yours.")
    return customer


@router.get(
    "/customers",
    response={200: CustomerPage, **ERRORS},
    auth=requires(Scope.CUSTOMERS_READ),
    operation_id="customers_list",
)
def customers_list(request: HttpRequest, filters: Query[CustomerFilters]) -> dict[str, object]:
    rows = Customer.objects.visible_to(token_of(request).owner)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.tier:
        rows = rows.filter(tier=filters.tier)
    if filters.tag:
        rows = rows.filter(tags__slug=filters.tag)
    if filters.country:
        rows = rows.filter(country=filters.country.upper())
    if filters.updated_since:
        rows = rows.changed_since(filters.updated_since)
    if filters.after is not None:
        rows = rows.filter(pk__gt=filters.after)
    found = list(rows.select_related("account_manager").prefetch_related("tags").order_by("pk")[: filters.limit + 1])
    items, cursor = page_of(found, filters.limit)
    return {"items": items, "next": cursor}


@router.get(
    "/customers/{external_id}",
    response={200: CustomerOut, 404: ErrorOut, **ERRORS},
    auth=requires(Scope.CUSTOMERS_READ),
    operation_id="customers_retrieve",
)
def customers_retrieve(request: HttpRequest, external_id: str) -> Customer:
    return _customer(request, external_id)


@router.put(
    "/customers/{external_id}",
    response={200: CustomerOut, 201: CustomerOut, 409: ErrorOut, 422: ErrorOut, **ERRORS},
    auth=requires(Scope.CUSTOMERS_WRITE),
    operation_id="customers_upsert",
)
def customers_put(request: HttpRequest, external_id: str, payload: CustomerFields) -> Status[Customer]:
    """Create the customer with this external_id, or update the fields given (201 when created)."""
    if not external_id.strip() or len(external_id) > 64:
        raise HttpError(422, "external_id must be 1 to 64 characters.")
    owner = token_of(request).owner
    if Customer.objects.filter(external_id=external_id).exclude(pk__in=Customer.objects.visible_to(owner)).exists():
        raise HttpError(409, f"The external_id {external_id!r} belongs to a customer you do not manage.")
    row = CustomerInput(external_id=external_id, fields=payload.given(), tags=payload.tags)
    try:
        result = customers_upsert(by=owner, rows=[row])
    except InputError as exc:
        raise Unprocessable(problems_detail(exc)) from None
    return Status(201 if external_id in result.created else 200, _customer(request, external_id))


@router.get(
    "/customers/{external_id}/milestones",
    response={200: list[MilestoneOut], 404: ErrorOut, **ERRORS},
    auth=requires(Scope.CUSTOMERS_READ),
    operation_id="milestones_list",
)
def milestones_list(request: HttpRequest, external_id: str) -> list[Milestone]:
    customer = _customer(request, external_id)
    return list(Milestone.objects.filter(customer=customer).select_related("kind").order_by("date", "id"))


@router.post(
    "/customers/{external_id}/milestones",
    response={200: MilestoneCreated, 201: MilestoneCreated, 404: ErrorOut, 422: ErrorOut, **ERRORS},
    auth=requires(Scope.CUSTOMERS_WRITE),
    operation_id="milestones_add",
)
def milestones_post(request: HttpRequest, external_id: str, payload: MilestoneIn) -> Status[dict[str, object]]:
    """Add a milestone (201); one already there on that date for that kind answers 200."""
    customer = _customer(request, external_id)
    try:
        [created] = milestones_add(
            rows=[MilestoneInput(customer=customer, kind=payload.kind, date=payload.date, note=payload.note)]
        )
    except InputError as exc:
        raise Unprocessable(problems_detail(exc)) from None
    body = {"kind": payload.kind, "date": payload.date, "note": payload.note, "created": created}
    return Status(201 if created else 200, body)
