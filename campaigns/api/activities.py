"""/api/v1/activities: touches made in other channels (read: touchpoints:read; record:
touchpoints:write). Recorded activities are contacts and appear on the customer's journey."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from campaigns.models import Activity
from campaigns.services.activities import ActivityInput, activities_record
from nurture.api.auth import requires, token_of
from nurture.api.schemas import ERRORS, MAX_PAGE, ErrorOut, Instant, RowId, Unprocessable, page_of, problems_detail
from nurture.models import Customer, Scope
from nurture.services.customers import InputError

router = Router(tags=["activities"])

Channel = Literal["email", "meeting", "support_ticket", "purchase", "nps", "other"]


class ActivityIn(Schema):
    customer: str = Field(..., min_length=1, max_length=64, description="The customer's external_id")
    channel: Channel
    occurred_at: Instant = Field(..., description="With a time zone offset, e.g. 2026-03-01T10:00:00Z")
    subject: str = Field("", max_length=200)
    score: int | None = Field(None, ge=0, le=100, description="NPS 0-10, or a rating out of 100")
    external_id: str = Field("", max_length=100, description="Its ID in your system: sent twice, recorded once")


class ActivityOut(Schema):
    id: int
    customer: str
    channel: Channel
    occurred_at: dt.datetime
    subject: str
    score: int | None
    source: str
    external_id: str

    @staticmethod
    def resolve_customer(activity: Activity) -> str:
        return activity.customer.external_id


class ActivityFilters(Schema):
    customer: str | None = Field(None, description="The customer's external_id")
    channel: Channel | None = None
    since: Instant | None = None
    limit: int = Field(100, ge=1, le=MAX_PAGE)
    after: RowId | None = Field(None, description="The `next` cursor of the previous page")


class ActivityPage(Schema):
    items: list[ActivityOut]
    next: str | None


@router.get(
    "/activities",
    response={200: ActivityPage, **ERRORS},
    auth=requires(Scope.TOUCHPOINTS_READ),
    operation_id="activities_list",
)
def activities_list(request: HttpRequest, filters: Query[ActivityFilters]) -> dict[str, object]:
    rows = Activity.objects.visible_to(token_of(request).owner)
    if filters.customer:
        rows = rows.filter(customer__external_id=filters.customer)
    if filters.channel:
        rows = rows.filter(channel=filters.channel)
    if filters.since:
        rows = rows.since(filters.since)
    if filters.after is not None:
        rows = rows.filter(pk__gt=filters.after)
    found = list(rows.select_related("customer").order_by("pk")[: filters.limit + 1])
    items, cursor = page_of(found, filters.limit)
    return {"items": items, "next": cursor}


@router.post(
    "/activities",
    response={201: ActivityOut, 404: ErrorOut, 422: ErrorOut, **ERRORS},
    auth=requires(Scope.TOUCHPOINTS_WRITE),
    operation_id="activities_record",
)
def activities_post(request: HttpRequest, payload: ActivityIn) -> Status[Activity]:
    """Record an activity; one sent before with the same external_id is returned as stored."""
    token = token_of(request)
    customer = Customer.objects.visible_to(token.owner).filter(external_id=payload.customer).first()
    if customer is None:
        raise HttpError(404, f"No customer {payload.customer!r} among yours.")
    row = ActivityInput(
        customer=customer,
        channel=payload.channel,
        occurred_at=payload.occurred_at,
        subject=payload.subject,
        score=payload.score,
        source=token.name[:50],
        external_id=payload.external_id,
    )
    try:
        [activity] = activities_record(rows=[row])
    except InputError as exc:
        raise Unprocessable(problems_detail(exc)) from None
    activity.customer = customer
    return Status(201, activity)
