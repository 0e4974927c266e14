"""Webhooks out, from a transactional outbox (docs/webhooks.md).

1. **Record.** A service that changes something calls ``webhook_event_record`` (or
   ``webhook_events_record`` for many) inside its own transaction: a plain INSERT into the
   outbox, committed or rolled back with the change. One event per (type, subject): a job that
   runs twice records it once. After the commit a signal asks for a dispatch at once; if the
   broker is down then, nothing is lost: the rows are in the database and Beat's periodic
   dispatch finds them.
2. **Fan out.** Each new event becomes one delivery per enabled endpoint subscribed to its type
   (unique per event and endpoint, so overlapping fan-outs create each once).
3. **Deliver.** The dispatcher claims due deliveries (a conditional UPDATE that sets a claim
   token and pushes next_attempt_at past the claim's lease; on PostgreSQL the candidates are read
   with SELECT ... FOR UPDATE SKIP LOCKED so that workers never wait on each other), POSTs each
   one signed as the Standard Webhooks specification says, and writes the results back in bulk.
   A worker killed half-way leaves its claim to lapse; the delivery is then sent again with the
   same webhook-id, which receivers use to ignore duplicates.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import send_mail
from django.db import connection, models, transaction
from django.utils import timezone

from campaigns import signals
from campaigns.models import Card, Touchpoint, WebhookDelivery, WebhookEndpoint, WebhookEvent
from campaigns.models.webhooks import SUBSCRIBABLE_TYPES, WebhookEventType
from campaigns.outbound import (
    Destination,
    DestinationRefused,
    PostResult,
    WebhookClient,
    new_secret,
    resolve_destination,
)
from campaigns.outbound.signing import webhook_headers
from nurture.lib.localdates import zones_by_local_date

log = logging.getLogger(__name__)

EventType = WebhookEventType
PENDING = WebhookDelivery.Status.PENDING
DELIVERED = WebhookDelivery.Status.DELIVERED
FAILED = WebhookDelivery.Status.FAILED

# The delays before each retry (the first attempt is immediate): about three days in all.
RETRY_SCHEDULE = [
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=14),
    dt.timedelta(hours=20),
    dt.timedelta(hours=24),
]
# Each delay is moved by up to this fraction either way, so failed deliveries do not come back in step.
JITTER = 0.1
# A Retry-After header is honoured up to this long.
RETRY_AFTER_CAP = dt.timedelta(hours=24)
# An endpoint that has failed without a single success for this long is disabled.
DISABLE_AFTER = dt.timedelta(days=5)
# During a rotation, the previous secret keeps signing for this long.
ROTATION_OVERLAP = dt.timedelta(hours=24)
# A claimed delivery is the claimer's for this long; then another dispatcher may take it again.
CLAIM_LEASE = dt.timedelta(minutes=2)
# Deliveries claimed at once.
DISPATCH_BATCH = 100
# Events fanned out per statement.
FAN_OUT_CHUNK = 1000
# Rows recorded per INSERT.
RECORD_CHUNK = 2000
# touchpoint.due looks back this many days: a touchpoint whose due date began longer ago (Beat
# down for a week) is not announced as due any more.
DUE_LOOKBACK_DAYS = 7


class WebhookError(ValueError):
    """The request cannot be done; the message says why, for a person."""


def _allowed_hosts() -> list[str]:
    return list(getattr(settings, "NURTURE_WEBHOOK_ALLOWED_HOSTS", []))


def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"


# --- 1. Recording events (inside the caller's transaction) ----------------------------------


def _subscribed_types() -> set[str]:
    types: set[str] = set()
    for event_types in WebhookEndpoint.objects.enabled().values_list("event_types", flat=True):
        types.update(event_types or [])
    return types


def _nudge() -> None:
    transaction.on_commit(partial(signals.webhook_events_recorded.send, sender=WebhookEvent))


def webhook_events_record(*, type: str, events: Iterable[tuple[int | None, dict[str, Any]]]) -> int:
    """Record events of one type in the caller's transaction: (subject id, data) each.

    An event whose (type, subject) was recorded before is left alone. Nothing is recorded while
    no enabled endpoint wants the type. Returns how many rows were offered.
    """
    if type not in EventType.values:
        raise WebhookError(f"Unknown webhook event type {type!r}.")
    if type not in _subscribed_types():
        return 0
    now = timezone.now()
    rows = [
        WebhookEvent(message_id=WebhookEvent.new_message_id(), type=type, subject_id=subject, data=data, created_at=now)
        for subject, data in events
    ]
    for start in range(0, len(rows), RECORD_CHUNK):
        WebhookEvent.objects.bulk_create(rows[start : start + RECORD_CHUNK], ignore_conflicts=True)
    if rows:
        _nudge()
    return len(rows)


def webhook_event_record(*, type: str, subject_id: int | None, data: dict[str, Any]) -> int:
    """Record one event in the caller's transaction (see webhook_events_record)."""
    return webhook_events_record(type=type, events=[(subject_id, data)])


# --- What the events carry -------------------------------------------------------------------

_TOUCHPOINT_FIELDS = (
    "pk",
    "kind",
    "status",
    "outcome",
    "occurs_on",
    "due_on",
    "completed_at",
    "customer__external_id",
    "rule__slug",
    "assignee__username",
)


def iso_or_none(value: dt.date | dt.datetime | None) -> str | None:
    """A date or time in an event's payload: ISO 8601, or null."""
    return value.isoformat() if value is not None else None


def _touchpoint_data(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "touchpoint": row["pk"],
        "kind": row["kind"],
        "status": row["status"],
        "customer": row["customer__external_id"],
        "rule": row["rule__slug"],
        "occurs_on": iso_or_none(row["occurs_on"]),
        "due_on": iso_or_none(row["due_on"]),
        "assignee": row["assignee__username"],
    }


def touchpoint_events(touchpoint_ids: Sequence[int], *, outcome: bool = False) -> None:
    """Record touchpoint.completed (and outcome.logged for calls, when asked) for done touchpoints."""
    if not touchpoint_ids:
        return
    wanted = _subscribed_types()
    if not wanted & {EventType.TOUCHPOINT_COMPLETED, EventType.OUTCOME_LOGGED}:
        return
    completed: list[tuple[int | None, dict[str, Any]]] = []
    logged: list[tuple[int | None, dict[str, Any]]] = []
    for start in range(0, len(touchpoint_ids), RECORD_CHUNK):
        page = touchpoint_ids[start : start + RECORD_CHUNK]
        rows = Touchpoint.objects.filter(pk__in=page, status=Touchpoint.Status.DONE).values(*_TOUCHPOINT_FIELDS)
        for row in rows:
            data = {**_touchpoint_data(row), "completed_at": iso_or_none(row["completed_at"])}
            completed.append((row["pk"], data))
            if outcome and row["outcome"]:
                logged.append((row["pk"], {**data, "outcome": row["outcome"]}))
    if EventType.TOUCHPOINT_COMPLETED in wanted:
        webhook_events_record(type=EventType.TOUCHPOINT_COMPLETED, events=completed)
    if EventType.OUTCOME_LOGGED in wanted and logged:
        webhook_events_record(type=EventType.OUTCOME_LOGGED, events=logged)


def card_events(*, type: str, card_ids: Sequence[int]) -> None:
    """Record card.printed or card.mailed for the cards given."""
    if not card_ids or type not in _subscribed_types():
        return
    events: list[tuple[int | None, dict[str, Any]]] = []
    for start in range(0, len(card_ids), RECORD_CHUNK):
        rows = Card.objects.filter(pk__in=card_ids[start : start + RECORD_CHUNK]).values(
            "pk",
            "touchpoint_id",
            "touchpoint__customer__external_id",
            "design__slug",
            "batch_id",
            "sequence",
            "mail_by",
        )
        for row in rows:
            sequence = f"B{row['batch_id']}-{row['sequence']:03d}" if row["sequence"] is not None else None
            data = {
                "card": row["pk"],
                "touchpoint": row["touchpoint_id"],
                "customer": row["touchpoint__customer__external_id"],
                "design": row["design__slug"],
                "batch": f"B{row['batch_id']}" if row["batch_id"] else None,
                "sequence": sequence,
                "mail_by": iso_or_none(row["mail_by"]),
            }
            events.append((row["pk"], data))
    webhook_events_record(type=type, events=events)


def webhook_events_touchpoints_due(*, now: dt.datetime | None = None) -> int:
    """Record touchpoint.due once per pending touchpoint whose due date has begun where its customer is.

    Set-based and chunked: the pending touchpoints due by each customer's today (within the
    look-back) that have no touchpoint.due event yet, a page of ids at a time.
    """
    if EventType.TOUCHPOINT_DUE not in _subscribed_types():
        return 0
    now = now or timezone.now()
    earliest = min(zones_by_local_date(now)) - dt.timedelta(days=DUE_LOOKBACK_DAYS)
    announced = WebhookEvent.objects.filter(type=EventType.TOUCHPOINT_DUE, subject_id=models.OuterRef("pk"))
    due = (
        Touchpoint.objects.due_by_today(now)
        .filter(due_on__gte=earliest)
        .exclude(models.Exists(announced))
        .order_by("pk")
    )
    recorded, after = 0, 0
    while True:
        rows = list(due.filter(pk__gt=after).values(*_TOUCHPOINT_FIELDS)[:RECORD_CHUNK])
        if not rows:
            return recorded
        with transaction.atomic():
            recorded += webhook_events_record(
                type=EventType.TOUCHPOINT_DUE, events=[(row["pk"], _touchpoint_data(row)) for row in rows]
            )
        after = rows[-1]["pk"]


# --- Endpoints (the admin's writes) ------------------------------------------------------------


def _clean_event_types(event_types: Iterable[str]) -> list[str]:
    types = list(dict.fromkeys(event_types))
    unknown = [t for t in types if t not in SUBSCRIBABLE_TYPES]
    if unknown:
        raise WebhookError(
            f"Unknown event types: {', '.join(unknown)}; expected some of {', '.join(SUBSCRIBABLE_TYPES)}."
        )
    if not types:
        raise WebhookError("Choose at least one event type.")
    return types


def webhook_url_check(url: str) -> str:
    """The URL, stripped, if it may receive webhooks; WebhookError says why not."""
    url = url.strip()
    try:
        resolve_destination(url, allowed_hosts=_allowed_hosts())
    except DestinationRefused as exc:
        raise WebhookError(str(exc)) from exc
    return url


def webhook_endpoint_create(
    *, url: str, event_types: Iterable[str], owner: AbstractBaseUser, description: str = ""
) -> WebhookEndpoint:
    """A new enabled endpoint with a fresh secret (show endpoint.secret to its owner once)."""
    endpoint = WebhookEndpoint(
        url=webhook_url_check(url),
        event_types=_clean_event_types(event_types),
        owner_id=owner.pk,
        description=description.strip(),
        secret=new_secret(),
    )
    endpoint.save()
    return endpoint


def webhook_endpoint_change(
    *, endpoint: WebhookEndpoint, url: str, event_types: Iterable[str], description: str = ""
) -> WebhookEndpoint:
    endpoint.url = webhook_url_check(url)
    endpoint.event_types = _clean_event_types(event_types)
    endpoint.description = description.strip()
    endpoint.save(update_fields=["url", "event_types", "description", "updated_at"])
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, now: dt.datetime | None = None) -> str:
    """A new secret; the old one keeps signing alongside it for ROTATION_OVERLAP. Returns the new one."""
    now = now or timezone.now()
    secret = new_secret()
    with transaction.atomic():
        current = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            secret=secret,
            previous_secret=current.secret,
            previous_secret_expires_at=now + ROTATION_OVERLAP,
            updated_at=now,
        )
    endpoint.refresh_from_db()
    return secret


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Enable again; its pending deliveries resume, and the failure clock starts afresh."""
    webhook_url_check(endpoint.url)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=True, disabled_reason="", failing_since=None, updated_at=timezone.now()
    )
    endpoint.refresh_from_db()
    return endpoint


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> bool:
    """Disable an enabled endpoint. Returns whether this call disabled it."""
    reason = reason.strip()[:200] or "Disabled."
    disabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason, updated_at=timezone.now()
    )
    endpoint.refresh_from_db()
    return bool(disabled)


def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookEvent:
    """A test event to this endpoint only, delivered like any other."""
    if not endpoint.enabled:
        raise WebhookError(f"{endpoint.url} is disabled ({endpoint.disabled_reason}): enable it to send a test event.")
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            message_id=WebhookEvent.new_message_id(),
            type=EventType.TEST,
            endpoint=endpoint,
            data={"endpoint": endpoint.pk, "message": "A test event from nurture."},
        )
        _nudge()
    return event


def webhook_deliveries_replay(*, deliveries: models.QuerySet[WebhookDelivery] | Sequence[WebhookDelivery]) -> int:
    """Send the deliveries again now, with their own webhook-id; the retry schedule starts afresh."""
    ids = [d.pk for d in deliveries]
    with transaction.atomic():
        count = WebhookDelivery.objects.filter(pk__in=ids).update(
            status=PENDING, attempts=0, next_attempt_at=timezone.now(), claim=None
        )
        if count:
            _nudge()
    return count


# --- 2. Fan-out --------------------------------------------------------------------------------


def webhook_events_fan_out(*, now: dt.datetime | None = None) -> int:
    """Create the deliveries of every event not yet fanned out. Returns how many events."""
    now = now or timezone.now()
    endpoints = list(WebhookEndpoint.objects.enabled().values_list("pk", "event_types"))
    done = 0
    while True:
        events = list(
            WebhookEvent.objects.unfanned().order_by("pk").values_list("pk", "type", "endpoint_id")[:FAN_OUT_CHUNK]
        )
        if not events:
            return done
        deliveries = []
        for event_id, type, only_to in events:
            for endpoint_id, types in endpoints:
                if (only_to is None and type in (types or [])) or only_to == endpoint_id:
                    deliveries.append(
                        WebhookDelivery(event_id=event_id, endpoint_id=endpoint_id, next_attempt_at=now, created_at=now)
                    )
        with transaction.atomic():
            WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
            WebhookEvent.objects.filter(pk__in=[e[0] for e in events]).update(fanned_out_at=now)
        done += len(events)


# --- 3. Delivery -------------------------------------------------------------------------------

_client: WebhookClient | None = None


def http_client() -> WebhookClient:
    """The process's one kept client (its connections are reused from one delivery to the next)."""
    global _client
    if _client is None:
        _client = WebhookClient()
    return _client


def retry_delay(attempts: int, *, retry_after: float | None = None) -> dt.timedelta | None:
    """How long after `attempts` failed attempts the next one comes; None when the schedule is spent."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    delay = RETRY_SCHEDULE[attempts - 1]
    delay *= 1 + random.uniform(-JITTER, JITTER)
    if retry_after is not None:
        delay = max(delay, min(dt.timedelta(seconds=retry_after), RETRY_AFTER_CAP))
    return delay


def _claim(now: dt.datetime, limit: int) -> list[WebhookDelivery]:
    token = uuid.uuid4()
    with transaction.atomic():
        candidates = WebhookDelivery.objects.due(now).order_by("next_attempt_at")
        if _on_postgresql():
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        # Conditional: on SQLite (no row locks) two dispatchers may read the same ids; one wins each.
        WebhookDelivery.objects.filter(pk__in=ids, status=PENDING, next_attempt_at__lte=now).update(
            claim=token, next_attempt_at=now + CLAIM_LEASE
        )
    return list(
        WebhookDelivery.objects.filter(claim=token)
        .select_related("event", "endpoint")
        .order_by("next_attempt_at", "pk")
    )


def _body(event: WebhookEvent) -> bytes:
    return json.dumps(event.payload(), separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class DispatchSummary:
    delivered: int = 0
    failed: int = 0
    retrying: int = 0
    disabled: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "retrying": self.retrying,
            "disabled": len(self.disabled),
        }


def _attempt(delivery: WebhookDelivery, destination: Destination | str, now: dt.datetime) -> PostResult:
    if isinstance(destination, str):
        return PostResult(status=None, error=destination)
    body = _body(delivery.event)
    headers = webhook_headers(
        secrets=delivery.endpoint.signing_secrets(now),
        message_id=delivery.event.message_id,
        # The moment of sending (receivers reject a timestamp far from their clock), not the dispatch's `now`.
        timestamp=int(time.time()),
        body=body,
    )
    return http_client().post(destination, body=body, headers=headers)


def _describe(result: PostResult) -> str:
    if result.error:
        return result.error
    if result.status is not None and 300 <= result.status < 400:
        return f"HTTP {result.status}: a redirect, which is not followed."
    return f"HTTP {result.status}"


def _mail_owner(endpoint_id: int) -> None:
    endpoint = WebhookEndpoint.objects.select_related("owner").get(pk=endpoint_id)
    owner_email = getattr(endpoint.owner, "email", "")
    if not owner_email:
        log.warning("webhook endpoint %s disabled; its owner has no e-mail address", endpoint.pk)
        return
    try:
        send_mail(
            subject=f"Webhook endpoint disabled: {endpoint.url}",
            message=(
                f"nurture stopped sending webhooks to {endpoint.url}.\n\nReason: {endpoint.disabled_reason}\n\n"
                "Events that were not delivered wait in its delivery log. Once the receiver works again, "
                "enable the endpoint in the admin (Webhook endpoints) and replay what it missed.\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[owner_email],
        )
    except OSError:
        log.exception("webhook endpoint %s disabled; the e-mail to its owner failed", endpoint.pk)


def _disable(endpoint_id: int, reason: str, summary: DispatchSummary) -> None:
    disabled = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
        enabled=False, disabled_reason=reason[:200], updated_at=timezone.now()
    )
    if disabled:
        summary.disabled.append(endpoint_id)
        log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        transaction.on_commit(partial(_mail_owner, endpoint_id))


def _outcome(delivery: WebhookDelivery, result: PostResult, now: dt.datetime) -> dict[str, Any]:
    """The columns one attempt sets on its delivery."""
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status_code": result.status,
        "response_excerpt": result.excerpt,
        "claim": None,
    }
    if result.ok:
        return {**values, "status": DELIVERED, "delivered_at": now, "last_error": ""}
    values["last_error"] = _describe(result)[:500]
    delay = None if result.status == 410 else retry_delay(attempts, retry_after=result.retry_after)
    if delay is None:
        return {**values, "status": FAILED}
    return {**values, "next_attempt_at": now + delay}


def _record_results(
    results: list[tuple[WebhookDelivery, PostResult]], now: dt.datetime, summary: DispatchSummary
) -> None:
    """Write a batch's results: one UPDATE per distinct outcome (a batch of successes is one statement)."""
    groups: dict[tuple[tuple[str, Any], ...], list[int]] = defaultdict(list)
    succeeded: set[int] = set()
    failing: set[int] = set()
    gone: set[int] = set()
    for delivery, result in results:
        values = _outcome(delivery, result, now)
        groups[tuple(sorted(values.items()))].append(delivery.pk)
        if result.ok:
            succeeded.add(delivery.endpoint_id)
            summary.delivered += 1
            continue
        (gone if result.status == 410 else failing).add(delivery.endpoint_id)
        if values.get("status") == FAILED:
            summary.failed += 1
        else:
            summary.retrying += 1
    with transaction.atomic():
        for values_key, ids in groups.items():
            WebhookDelivery.objects.filter(pk__in=ids).update(**dict(values_key))
        if succeeded:
            WebhookEndpoint.objects.filter(pk__in=succeeded, failing_since__isnull=False).update(failing_since=None)
        failing -= succeeded
        if failing:
            WebhookEndpoint.objects.filter(pk__in=failing, failing_since__isnull=True).update(failing_since=now)
            for endpoint_id in WebhookEndpoint.objects.filter(
                pk__in=failing, enabled=True, failing_since__lte=now - DISABLE_AFTER
            ).values_list("pk", flat=True):
                _disable(endpoint_id, f"Every attempt failed for {DISABLE_AFTER.days} days.", summary)
        for endpoint_id in gone:
            _disable(endpoint_id, "The receiver answered 410 Gone.", summary)


def webhook_deliveries_dispatch(
    *, now: dt.datetime | None = None, limit: int = DISPATCH_BATCH, max_batches: int | None = None
) -> DispatchSummary:
    """Fan out new events, then deliver what is due, a claimed batch at a time, until none is left.

    `now` fixes the clock (tests); otherwise each batch reads the time afresh. `max_batches`
    bounds the work of one call (the task's time budget).
    """
    summary = DispatchSummary()
    webhook_events_fan_out(now=now)
    batches = 0
    while max_batches is None or batches < max_batches:
        moment = now or timezone.now()
        claimed = _claim(moment, limit)
        if not claimed:
            break
        batches += 1
        destinations: dict[int, Destination | str] = {}
        results = []
        for delivery in claimed:
            if delivery.endpoint_id not in destinations:
                try:
                    destinations[delivery.endpoint_id] = resolve_destination(
                        delivery.endpoint.url, allowed_hosts=_allowed_hosts()
                    )
                except DestinationRefused as exc:
                    destinations[delivery.endpoint_id] = str(exc)
            results.append((delivery, _attempt(delivery, destinations[delivery.endpoint_id], moment)))
        _record_results(results, moment, summary)
    return summary


def webhook_deliveries_due_count(*, limit: int, now: dt.datetime | None = None) -> int:
    """How many deliveries are due, counting up to `limit`."""
    return WebhookDelivery.objects.due(now or timezone.now())[:limit].count()


def webhook_deliveries_due_exist(*, now: dt.datetime | None = None) -> bool:
    return WebhookDelivery.objects.due(now or timezone.now()).exists() or WebhookEvent.objects.unfanned().exists()
