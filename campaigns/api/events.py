"""/api/v1/events: what another system tells us happened (campaigns/services/events_in.py).

One event (``POST /events``) or up to 1,000 (``POST /events/batch``), applied all or none and
answered 202 with what was created. An ``Idempotency-Key`` header is required: the same key with
the same body answers the first response again (with ``Idempotent-Replayed: true``); with another
body, 422. Keys are kept 7 days.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Header, Router
from pydantic import BaseModel, Field

from campaigns.services.events_in import MAX_EVENTS, EventInput, EventOutcome, events_apply
from campaigns.services.idempotency import Answer, IdempotencyKeyReused, idempotent_run, request_hash
from nurture.api.auth import requires, token_of
from nurture.api.schemas import (
    ERRORS,
    CustomerFields,
    Day,
    ErrorOut,
    Instant,
    Unprocessable,
    problems_detail,
    problems_detail_indexed,
)
from nurture.models import ApiToken, Scope
from nurture.services.customers import CustomerInput, InputError

router = Router(tags=["events"])

EventTypeName = Literal[
    "customer.created", "deal.won", "renewal.signed", "job.placed", "referral.converted", "nps.responded"
]


class EventCustomer(CustomerFields):
    external_id: str = Field(..., min_length=1, max_length=64, description="The customer's key in your system")


class EventIn(BaseModel):
    type: EventTypeName
    customer: EventCustomer
    id: str = Field("", max_length=100, description="The event's ID in your system (an NPS answer is recorded once)")
    occurred_at: Instant | None = Field(None, description="When it happened; default: now")
    date: Day | None = Field(None, description="The milestone's date; default: the day of occurred_at")
    renewal_date: Day | None = Field(None, description="renewal.signed: the next renewal date")
    score: int | None = Field(None, ge=0, le=10, description="nps.responded: the answer, 0-10")
    comment: str = Field("", max_length=200, description="nps.responded: the comment")
    referrer_external_id: str = Field("", max_length=64, description="referral.converted: who referred them")


class EventBatchIn(BaseModel):
    events: list[EventIn] = Field(..., min_length=1, max_length=MAX_EVENTS)


class EventOut(BaseModel):
    type: str
    customer: str
    customer_created: bool
    milestones_created: list[str]
    activity_id: int | None
    referral_id: int | None = None
    referral_status: str = ""


class EventsAccepted(BaseModel):
    accepted: int
    customers_created: list[str]
    events: list[EventOut]


# ninja's Header is a parameter marker here, not the generic annotation mypy takes it for.
IdempotencyKey = Header(  # type: ignore[type-arg]
    ...,
    alias="Idempotency-Key",
    min_length=1,
    max_length=255,
    description="A unique key per request (e.g. a UUID); a retry sends the same key.",
)
RESPONSES = {202: EventsAccepted, 422: ErrorOut, **ERRORS}


def _as_input(event: EventIn) -> EventInput:
    fields = event.customer.given()
    fields.pop("external_id", None)
    return EventInput(
        type=event.type,
        customer=CustomerInput(external_id=event.customer.external_id, fields=fields, tags=event.customer.tags),
        occurred_at=event.occurred_at,
        id=event.id,
        date=event.date,
        renewal_date=event.renewal_date,
        score=event.score,
        comment=event.comment,
        referrer_external_id=event.referrer_external_id,
    )


def _accepted(outcomes: list[EventOutcome]) -> Answer:
    body = EventsAccepted(
        accepted=len(outcomes),
        customers_created=sorted({o.customer for o in outcomes if o.customer_created}),
        events=[EventOut(**o.__dict__) for o in outcomes],
    )
    return Answer(202, body.model_dump(mode="json"))


def _apply(request: HttpRequest, token: ApiToken, key: str, events: list[EventIn], *, batch: bool) -> HttpResponse:
    root = ("body", "events")

    def run() -> Answer:
        try:
            outcomes = events_apply(by=token.owner, events=[_as_input(e) for e in events], source=token.name[:50])
        except InputError as exc:
            detail = problems_detail_indexed(exc, root=root) if batch else problems_detail(exc)
            raise Unprocessable(detail) from None
        return _accepted(outcomes)

    fingerprint = request_hash(method=request.method or "POST", path=request.path, body=request.body)
    try:
        answer = idempotent_run(token=token, key=key, fingerprint=fingerprint, run=run)
    except IdempotencyKeyReused as exc:
        raise Unprocessable([{"type": "reused", "loc": ["header", "Idempotency-Key"], "msg": str(exc)}]) from None
    response = HttpResponse(status=answer.status_code, content_type="application/json")
    response.content = _json(answer.body)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _json(body: dict[str, object]) -> bytes:
    return EventsAccepted.model_validate(body).model_dump_json().encode()


@router.post("/events", response=RESPONSES, auth=requires(Scope.EVENTS_WRITE), operation_id="events_send")
def events_send(request: HttpRequest, payload: EventIn, idempotency_key: str = IdempotencyKey) -> HttpResponse:
    """Apply one event."""
    return _apply(request, token_of(request), idempotency_key, [payload], batch=False)


@router.post("/events/batch", response=RESPONSES, auth=requires(Scope.EVENTS_WRITE), operation_id="events_send_batch")
def events_send_batch(
    request: HttpRequest, payload: EventBatchIn, idempotency_key: str = IdempotencyKey
) -> HttpResponse:
    """Apply up to 1,000 events, all or none; a problem names the event's position and field."""
    return _apply(request, token_of(request), idempotency_key, payload.events, batch=True)
