"""API tokens: create (the secret is returned once), authenticate, revoke, warn before expiry.

The secret is ``nur_`` + 43 URL-safe characters (32 random bytes). Only its SHA-256 hash is
stored; authenticating looks the hash up by its unique index, so the secret is never compared
character by character. ``last_used_at`` is written at most once a minute per token (a
conditional UPDATE), so a busy integration does not cost a write per request.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from nurture.models import TOKEN_PREFIX, ApiToken, Scope, hash_token
from nurture.models.api_tokens import VISIBLE_PREFIX_LENGTH

# The owner is told this long before the token expires (once).
EXPIRY_WARNING = dt.timedelta(days=14)
# last_used_at is rewritten at most this often.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class ApiTokenError(ValueError):
    """The token cannot be created as asked; the message says why."""


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def parse_scopes(text: str | Iterable[str]) -> list[str]:
    """Scopes as given on a command line ("a,b") or as a list; unknown ones are an error naming them."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = sorted({item.strip() for item in items if item.strip()})
    unknown = [scope for scope in scopes if scope not in Scope.values]
    if unknown:
        raise ApiTokenError(f"Unknown scope {', '.join(unknown)}; expected some of {', '.join(Scope.values)}.")
    if not scopes:
        raise ApiTokenError(f"At least one scope is required, among {', '.join(Scope.values)}.")
    return scopes


def api_token_create(
    *,
    name: str,
    owner: AbstractBaseUser,
    scopes: Iterable[str],
    expires_days: int | None = None,
    now: dt.datetime | None = None,
) -> CreatedToken:
    now = now or timezone.now()
    name = name.strip()
    if not name:
        raise ApiTokenError("A token needs a name (what the integration is).")
    if expires_days is not None and expires_days < 1:
        raise ApiTokenError(f"--expires-days must be at least 1, not {expires_days}.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        owner_id=owner.pk,
        scopes=parse_scopes(scopes),
        key_hash=hash_token(secret),
        prefix=secret[:VISIBLE_PREFIX_LENGTH],
        expires_at=now + dt.timedelta(days=expires_days) if expires_days is not None else None,
    )
    try:
        with transaction.atomic():
            token.save()
    except IntegrityError:
        raise ApiTokenError(f"{owner.get_username()} already has a token named {name!r}.") from None
    return CreatedToken(token=token, secret=secret)


def api_token_authenticate(*, secret: str, now: dt.datetime | None = None) -> ApiToken | None:
    """The live token with this secret (its owner loaded), or None: unknown, revoked or expired."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = now or timezone.now()
    token = ApiToken.objects.select_related("owner").filter(key_hash=hash_token(secret)).first()
    if token is None or not token.is_live(now) or not token.owner.is_active:
        return None
    if token.last_used_at is None or token.last_used_at <= now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_tokens_revoke(*, tokens: Iterable[ApiToken], now: dt.datetime | None = None) -> int:
    """Revoke the tokens (those already revoked keep their time). Returns how many were revoked now."""
    return ApiToken.objects.filter(pk__in=[token.pk for token in tokens], revoked_at__isnull=True).update(
        revoked_at=now or timezone.now()
    )


def api_tokens_warn_expiring(*, now: dt.datetime | None = None) -> int:
    """E-mail each owner whose token expires within 14 days, once per token. Returns how many."""
    now = now or timezone.now()
    sent = 0
    for token in ApiToken.objects.expiring_unwarned(now=now, within=EXPIRY_WARNING).select_related("owner"):
        # Claimed before sending: two runs at once send one e-mail (a lost e-mail beats two).
        if not ApiToken.objects.filter(pk=token.pk, expiry_warned_at__isnull=True).update(expiry_warned_at=now):
            continue
        email = getattr(token.owner, "email", "")
        if not email or token.expires_at is None:
            continue
        body = render_to_string(
            "nurture/api_token_expiring.txt",
            {
                "token": token,
                "owner": token.owner.get_username(),
                "expires_on": timezone.localdate(token.expires_at).isoformat(),
                "scopes": ",".join(token.scopes),
            },
        )
        send_mail(
            f"Your API token {token.name!r} expires in {(token.expires_at - now).days} days",
            body,
            settings.DEFAULT_FROM_EMAIL,
            [email],
        )
        sent += 1
    return sent
