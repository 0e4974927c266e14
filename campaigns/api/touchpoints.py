"""/api/v1/touchpoints: the calls and cards planned and done, and logging a call's outcome as
Today does (the same service: reactions, retries and the last-contact clock follow)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from campaigns.models import Touchpoint
from campaigns.services.touchpoints import TouchpointError, touchpoint_log_outcome
from nurture.api.auth import requires, token_of
from nurture.api.schemas import ERRORS, MAX_PAGE, Day, ErrorOut, RowId, page_of
from nurture.models import Scope

router = Router(tags=["touchpoints"])

TouchpointStatus = Literal["pending", "done", "skipped", "cancelled", "held"]
Outcome = Literal["reached", "voicemail", "no_answer", "at_risk"]


class TouchpointFilters(Schema):
    customer: str | None = Field(None, description="The customer's external_id")
    status: TouchpointStatus | None = None
    kind: Literal["call", "card"] | None = None
    due_from: Day | None = None
    due_to: Day | None = None
    limit: int = Field(100, ge=1, le=MAX_PAGE)
    after: RowId | None = Field(None, description="The `next` cursor of the previous page")


class TouchpointOut(Schema):
    id: int
    customer: str
    kind: Literal["call", "card"]
    rule: str
    status: TouchpointStatus
    occurs_on: dt.date
    due_on: dt.date
    outcome: Outcome | Literal[""]
    notes: str
    completed_at: dt.datetime | None
    assignee: str | None

    @staticmethod
    def resolve_customer(touchpoint: Touchpoint) -> str:
        return touchpoint.customer.external_id

    @staticmethod
    def resolve_rule(touchpoint: Touchpoint) -> str:
        return touchpoint.rule.name

    @staticmethod
    def resolve_assignee(touchpoint: Touchpoint) -> str | None:
        return touchpoint.assignee.get_username() if touchpoint.assignee is not None else None


class TouchpointPage(Schema):
    items: list[TouchpointOut]
    next: str | None


class OutcomeIn(Schema):
    outcome: Outcome
    notes: str = Field("", max_length=5000)


@router.get(
    "/touchpoints",
    response={200: TouchpointPage, **ERRORS},
    auth=requires(Scope.TOUCHPOINTS_READ),
    operation_id="touchpoints_list",
)
def touchpoints_list(request: HttpRequest, filters: Query[TouchpointFilters]) -> dict[str, object]:
    rows = Touchpoint.objects.visible_to(token_of(request).owner)
    if filters.customer:
        rows = rows.filter(customer__external_id=filters.customer)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.due_from:
        rows = rows.filter(due_on__gte=filters.due_from)
    if filters.due_to:
        rows = rows.filter(due_on__lte=filters.due_to)
    if filters.after is not None:
        rows = rows.filter(pk__gt=filters.after)
    found = list(rows.select_related("customer", "rule", "assignee").order_by("pk")[: filters.limit + 1])
    items, cursor = page_of(found, filters.limit)
    return {"items": items, "next": cursor}


@router.post(
    "/touchpoints/{touchpoint_id}/outcome",
    response={200: TouchpointOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, **ERRORS},
    auth=requires(Scope.TOUCHPOINTS_WRITE),
    operation_id="touchpoints_log_outcome",
)
def touchpoints_log_outcome(request: HttpRequest, touchpoint_id: RowId, payload: OutcomeIn) -> Touchpoint:
    """Log how a pending call went, as Today does; 409 when it is not a pending call any more."""
    owner = token_of(request).owner
    touchpoint = Touchpoint.objects.visible_to(owner).filter(pk=touchpoint_id).first()
    if touchpoint is None:
        raise HttpError(404, f"No touchpoint {touchpoint_id} among yours.")
    try:
        touchpoint_log_outcome(touchpoint=touchpoint, outcome=payload.outcome, notes=payload.notes, by=owner)
    except TouchpointError as exc:
        raise HttpError(409, str(exc)) from None
    logged: Touchpoint = Touchpoint.objects.select_related("customer", "rule", "assignee").get(pk=touchpoint.pk)
    return logged
