"""CRM adapters: what HubSpot and Pipedrive webhooks send, mapped onto the events in.

The webhooks' signatures are checked by the interface (campaigns/api/crm_hooks.py); here the
payloads, once trusted, become ``EventInput``s applied through ``events_apply``, all or none, with
each CRM event's stable key recorded in the same transaction (``CrmEventReceived``): a
redelivery applies nothing again.

- HubSpot ``contact.creation``: customer.created for ``hubspot-<objectId>``;
- HubSpot ``deal.propertyChange`` of ``dealstage`` to ``closedwon``: deal.won for
  ``hubspot-deal-<objectId>`` (the webhook names the deal only, not its contact);
- Pipedrive ``create`` ``person``: customer.created for ``pipedrive-<id>``, with its name and e-mail;
- Pipedrive ``change`` ``deal`` whose ``status`` becomes ``won``: deal.won for ``pipedrive-<person_id>``.

Everything else is ignored. A HubSpot webhook carries ids only, no names: a customer new to
nurture gets a placeholder name ("HubSpot contact 123") an account manager completes, or a
later ``PUT /api/v1/customers/<external_id>`` replaces; a customer already known keeps its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from campaigns.models import CrmEventReceived
from campaigns.services.events_in import EventInput, EventOutcome, EventType, events_apply
from nurture.models import Customer, Referral
from nurture.services.customers import CustomerInput

HUBSPOT = "hubspot"
PIPEDRIVE = "pipedrive"


class PayloadError(ValueError):
    """The body is not what the CRM documents (not JSON, or the wrong shape)."""


@dataclass(frozen=True)
class CrmEvent:
    key: str  # stable per CRM event: a redelivery has the same
    event: EventInput
    names_if_new: Mapping[str, str] = field(default_factory=dict)  # used only to create the customer


@dataclass(frozen=True)
class CrmOutcome:
    applied: list[EventOutcome]
    duplicates: int
    ignored: int


def _instant_ms(value: Any) -> dt.datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    return None


def hubspot_events(payload: Any) -> tuple[list[CrmEvent], int]:
    """The events of a HubSpot webhook body (a JSON array), and how many were ignored."""
    if not isinstance(payload, list):
        raise PayloadError("HubSpot sends a JSON array of events")
    events: list[CrmEvent] = []
    ignored = 0
    for index, item in enumerate(payload):
        if not isinstance(item, dict) or "objectId" not in item or "eventId" not in item:
            raise PayloadError(f"event {index}: an object with eventId and objectId expected")
        kind = item.get("subscriptionType")
        object_id = str(item["objectId"])
        # HubSpot does not promise eventId unique across subscriptions: the key adds what it is about.
        key = f"{kind}:{item['objectId']}:{item['eventId']}"
        occurred_at = _instant_ms(item.get("occurredAt"))
        if kind == "contact.creation":
            external_id, names = f"hubspot-{object_id}", {"first_name": "HubSpot", "last_name": f"contact {object_id}"}
            event_type = EventType.CUSTOMER_CREATED
        elif (
            kind == "deal.propertyChange"
            and item.get("propertyName") == "dealstage"
            and item.get("propertyValue") == "closedwon"
        ):
            external_id, names = (
                f"hubspot-deal-{object_id}",
                {"first_name": "HubSpot", "last_name": f"deal {object_id}"},
            )
            event_type = EventType.DEAL_WON
        else:
            ignored += 1
            continue
        event = EventInput(
            type=event_type,
            customer=CustomerInput(external_id=external_id),
            occurred_at=occurred_at,
            id=str(item["eventId"]),
        )
        events.append(CrmEvent(key=key, event=event, names_if_new=names))
    return events, ignored


def _pipedrive_names(data: Mapping[str, Any]) -> dict[str, str]:
    first = str(data.get("first_name") or "").strip()
    last = str(data.get("last_name") or "").strip()
    if not (first and last):
        parts = str(data.get("name") or "").split(None, 1)
        first = first or (parts[0] if parts else "")
        last = last or (parts[1] if len(parts) > 1 else "")
    fields = {"first_name": (first or "Pipedrive")[:100], "last_name": (last or f"person {data.get('id')}")[:100]}
    emails = data.get("emails") or []
    primary = [e for e in emails if isinstance(e, dict) and e.get("value")]
    primary.sort(key=lambda e: not e.get("primary"))
    if primary:
        fields["email"] = str(primary[0]["value"])
    return fields


def pipedrive_events(payload: Any) -> tuple[list[CrmEvent], int]:
    """The events of a Pipedrive webhook v2 body ({meta, data, previous}), and how many were ignored."""
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        raise PayloadError("Pipedrive webhooks v2 send an object with meta, data and previous")
    meta = payload["meta"]
    data: dict[str, Any] = payload["data"] if isinstance(payload.get("data"), dict) else {}
    previous: dict[str, Any] = payload["previous"] if isinstance(payload.get("previous"), dict) else {}
    action, entity = meta.get("action"), meta.get("entity")
    entity_id = meta.get("entity_id", meta.get("id"))
    if entity_id is None:
        raise PayloadError("meta.entity_id (or meta.id) is missing")
    timestamp = meta.get("timestamp")
    occurred_at = _pipedrive_instant(timestamp)
    key = f"{entity}:{entity_id}:{action}:{timestamp}"
    if action == "create" and entity == "person":
        event = EventInput(
            type=EventType.CUSTOMER_CREATED,
            customer=CustomerInput(external_id=f"pipedrive-{entity_id}"),
            occurred_at=occurred_at,
        )
        return [CrmEvent(key=key, event=event, names_if_new=_pipedrive_names(data))], 0
    if (
        action == "change"
        and entity == "deal"
        and data.get("status") == "won"
        and "status" in previous
        and previous.get("status") != "won"
    ):
        person_id = data.get("person_id")
        if isinstance(person_id, dict):  # some payloads nest the person
            person_id = person_id.get("value") or person_id.get("id")
        if person_id is None:
            raise PayloadError("a won deal without person_id: nurture needs the person the deal belongs to")
        event = EventInput(
            type=EventType.DEAL_WON,
            customer=CustomerInput(external_id=f"pipedrive-{person_id}"),
            occurred_at=_pipedrive_iso(data.get("won_time")) or occurred_at,
        )
        names = {"first_name": "Pipedrive", "last_name": f"person {person_id}"}
        return [CrmEvent(key=key, event=event, names_if_new=names)], 0
    return [], 1


def _pipedrive_instant(value: Any) -> dt.datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return _pipedrive_iso(value)


def _pipedrive_iso(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt.UTC)


def crm_events_apply(
    *, by: AbstractBaseUser, source: str, events: Sequence[CrmEvent], ignored: int = 0, now: dt.datetime | None = None
) -> CrmOutcome:
    """Apply the CRM's events not applied before, all or none, as `by` (whose scoping applies).

    Raises InputError (events_in) for a bad event; IntegrityError when the same event is being
    applied at this very moment by another delivery (nothing written: the CRM retries)."""
    now = now or timezone.now()
    with transaction.atomic():
        seen = set(
            CrmEventReceived.objects.filter(source=source, event_key__in=[e.key for e in events]).values_list(
                "event_key", flat=True
            )
        )
        fresh: list[CrmEvent] = []
        for crm_event in events:
            if crm_event.key not in seen:
                seen.add(crm_event.key)
                fresh.append(crm_event)
        known = set(
            Customer.objects.filter(external_id__in=[e.event.customer.external_id for e in fresh]).values_list(
                "external_id", flat=True
            )
        )
        inputs: list[EventInput] = []
        for crm_event in fresh:
            event = crm_event.event
            external_id = event.customer.external_id
            if external_id not in known:
                known.add(external_id)  # the first event of the batch creates it
                fields = {**crm_event.names_if_new, **event.customer.fields}
                event = dataclasses.replace(event, customer=CustomerInput(external_id=external_id, fields=fields))
            inputs.append(event)
        applied = (
            events_apply(by=by, events=inputs, source=source, referral_source=Referral.Source.CRM, now=now)
            if inputs
            else []
        )
        CrmEventReceived.objects.bulk_create(
            [CrmEventReceived(source=source, event_key=e.key[:200], received_at=now) for e in fresh]
        )
    return CrmOutcome(applied=applied, duplicates=len(events) - len(fresh), ignored=ignored)
