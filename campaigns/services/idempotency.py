"""Idempotency keys: a request sent again with the same Idempotency-Key gets the first answer.

The work and the key's row are written in one transaction. Two requests with one key at the
same moment: the unique (token, key) constraint lets one insert through; the other's
transaction (its work included) rolls back and it answers with the winner's stored response.
The same key with another body is refused (IdempotencyKeyReused). Keys are kept 7 days.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import IdempotencyKey
from nurture.models import ApiToken


def idempotency_kept() -> dt.timedelta:
    """How long a key is honoured, and kept (settings: NURTURE_IDEMPOTENCY_KEEP_DAYS, 7 by default)."""
    return dt.timedelta(days=settings.NURTURE_IDEMPOTENCY_KEEP_DAYS)


class IdempotencyKeyReused(ValueError):
    """The key was used before for a request with another body."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def request_hash(*, method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def _replay(stored: IdempotencyKey, fingerprint: str) -> Answer:
    if stored.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"The Idempotency-Key {stored.key!r} was used on {stored.created_at:%Y-%m-%d %H:%M} UTC for another "
            "request; use a new key for a new request."
        )
    return Answer(stored.status_code, stored.response, replayed=True)


def idempotent_run(
    *,
    token: ApiToken,
    key: str,
    fingerprint: str,
    run: Callable[[], Answer],
    now: dt.datetime | None = None,
) -> Answer:
    """The stored answer for (token, key), or run() and store its answer with its writes."""
    now = now or timezone.now()
    stored = IdempotencyKey.objects.filter(token=token, key=key).first()
    if stored is not None and stored.created_at >= now - idempotency_kept():
        return _replay(stored, fingerprint)
    if stored is not None:  # older than kept: as if the daily cleanup had run
        stored.delete()
    try:
        with transaction.atomic():
            answer = run()
            with transaction.atomic():  # a savepoint: the key's conflict is told apart from the work's errors
                IdempotencyKey.objects.create(
                    token=token,
                    key=key,
                    request_hash=fingerprint,
                    status_code=answer.status_code,
                    response=answer.body,
                    created_at=now,
                )
    except IntegrityError:
        winner = IdempotencyKey.objects.filter(token=token, key=key).first()
        if winner is None:
            raise
        return _replay(winner, fingerprint)
    return answer


def idempotency_keys_expire(*, now: dt.datetime | None = None) -> int:
    """Delete the keys older than they are kept, at once. Returns how many. (The nightly pruning,
    services.pruning, deletes them in batches.)"""
    deleted, _ = IdempotencyKey.objects.older_than((now or timezone.now()) - idempotency_kept()).delete()
    return deleted
