"""/api/v1/hooks/hubspot and /api/v1/hooks/pipedrive: the CRMs' webhooks, checked and mapped
onto the events in (campaigns/services/crm_in.py). docs/api.md, "CRM adapters", says how to
configure each side.

No API token here: each CRM proves itself its own way, against a secret in the settings.
HubSpot signs with its signature v3 (HMAC-SHA256 of method, URL, body and timestamp, keyed with
the app's client secret); a timestamp more than 5 minutes away from now is refused. Pipedrive
sends the HTTP Basic credentials set on its webhook. Either check failing answers 401, logs a
warning naming the CRM and the reason (never a secret), and writes nothing. An endpoint whose
secret is not configured answers 404.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError
from django.http import HttpRequest, JsonResponse
from ninja import Router

from campaigns.services.crm_in import (
    HUBSPOT,
    PIPEDRIVE,
    CrmEvent,
    PayloadError,
    crm_events_apply,
    hubspot_events,
    pipedrive_events,
)
from nurture.services.customers import InputError

logger = logging.getLogger(__name__)
router = Router(tags=["crm hooks"])

# HubSpot's requests older (or further in the future) than this are refused: a replay.
HUBSPOT_MAX_SKEW_MS = 5 * 60 * 1000


class Refused(Exception):
    """The request did not prove it comes from the CRM; the reason is logged, never answered."""


def hubspot_signature(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's signature v3: base64 of HMAC-SHA256(method + uri + body + timestamp)."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hubspot_check(request: HttpRequest, *, secret: str, now_ms: int | None = None) -> None:
    signature = request.headers.get("X-HubSpot-Signature-v3", "")
    timestamp = request.headers.get("X-HubSpot-Request-Timestamp", "")
    if not signature or not timestamp:
        raise Refused("no X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header")
    try:
        sent_ms = int(timestamp)
    except ValueError:
        raise Refused("the timestamp is not a number of milliseconds") from None
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    if abs(now_ms - sent_ms) > HUBSPOT_MAX_SKEW_MS:
        raise Refused(f"the timestamp is {(now_ms - sent_ms) // 1000} s away from now (at most 300)")
    expected = hubspot_signature(
        secret=secret,
        method=request.method or "POST",
        uri=request.build_absolute_uri(),
        body=request.body,
        timestamp=timestamp,
    )
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Refused("the signature does not match")


def pipedrive_check(request: HttpRequest, *, username: str, password: str) -> None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Refused("no HTTP Basic credentials")
    try:
        given = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("malformed HTTP Basic credentials") from None
    expected = f"{username}:{password}".encode()
    # Compare digests: constant time whatever the lengths.
    if not hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest()):
        raise Refused("wrong HTTP Basic credentials")


def _owner(username: str) -> AbstractBaseUser | None:
    user: AbstractBaseUser | None = get_user_model().objects.filter(username=username, is_active=True).first()
    return user


def _problem(status: int, message: str) -> JsonResponse:
    return JsonResponse({"detail": [{"type": "crm_hook", "loc": ["body"], "msg": message}]}, status=status)


def _handle(request: HttpRequest, source: str, owner_name: str, parse: Any) -> JsonResponse:
    owner = _owner(owner_name)
    if owner is None:
        logger.error("CRM hook %s: the owner %r is not an active user; nothing applied", source, owner_name)
        return _problem(503, f"The {source} integration's owner is not configured.")
    try:
        payload = json.loads(request.body)
        events, ignored = parse(payload)
    except (ValueError, PayloadError) as exc:
        logger.warning("CRM hook %s: a body we cannot read: %s", source, exc)
        return _problem(400, f"Not a {source} webhook body: {exc}")
    typed: list[CrmEvent] = events
    try:
        outcome = crm_events_apply(by=owner, source=source, events=typed, ignored=ignored)
    except InputError as exc:
        logger.warning("CRM hook %s: events refused, nothing applied: %s", source, exc)
        return _problem(422, str(exc))
    except IntegrityError:  # the same event applied by another delivery at this moment
        return _problem(409, "This event is being applied by another delivery; retry.")
    return JsonResponse(
        {
            "applied": len(outcome.applied),
            "duplicates": outcome.duplicates,
            "ignored": outcome.ignored,
            "customers_created": sorted({o.customer for o in outcome.applied if o.customer_created}),
            "milestones_created": [m for o in outcome.applied for m in o.milestones_created],
        }
    )


@router.post("/hooks/hubspot", auth=None, include_in_schema=False)
def hubspot_hook(request: HttpRequest) -> JsonResponse:
    """HubSpot webhooks: contact.creation and deals moving to closed-won."""
    secret = settings.NURTURE_HUBSPOT_CLIENT_SECRET
    if not secret:
        return _problem(404, "The HubSpot integration is not configured.")
    try:
        hubspot_check(request, secret=secret)
    except Refused as exc:
        logger.warning("CRM hook hubspot refused: %s", exc)
        return _problem(401, "The request's signature is not valid.")
    return _handle(request, HUBSPOT, settings.NURTURE_HUBSPOT_OWNER, hubspot_events)


@router.post("/hooks/pipedrive", auth=None, include_in_schema=False)
def pipedrive_hook(request: HttpRequest) -> JsonResponse:
    """Pipedrive webhooks v2: a person created, a deal won."""
    username, password = settings.NURTURE_PIPEDRIVE_USERNAME, settings.NURTURE_PIPEDRIVE_PASSWORD
    if not (username and password):
        return _problem(404, "The Pipedrive integration is not configured.")
    try:
        pipedrive_check(request, username=username, password=password)
    except Refused as exc:
        logger.warning("CRM hook pipedrive refused: %s", exc)
        response = _problem(401, "The request's credentials are not valid.")
        response["WWW-Authenticate"] = 'Basic realm="nurture"'
        return response
    return _handle(request, PIPEDRIVE, settings.NURTURE_PIPEDRIVE_OWNER, pipedrive_events)
