"""API authentication: ``Authorization: Bearer nur_...``, the token's scopes, its rate limit.

A request with no token, an unknown one, or one revoked or expired gets 401; a live token
without the operation's scope gets 403; past the token's rate limit, 429 with Retry-After.
The token acts as its owner: ``request.auth`` is the ApiToken, ``token.owner`` the user whose
customer scoping applies (CustomerScopedQuerySet.visible_to).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

from nurture.api.limits import check_rate
from nurture.models import ApiToken
from nurture.services.api_tokens import api_token_authenticate


class TokenAuth(HttpBearer):
    """Any live token; with `scope`, only one granted that scope."""

    def __init__(self, scope: str | None = None) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = api_token_authenticate(secret=token)
        if api_token is None:
            return None
        if self.scope is not None and not api_token.has_scope(self.scope):
            raise AuthorizationError(message=f"This token lacks the scope {self.scope}.")
        check_rate(api_token.key_hash[:32])
        return api_token


def requires(scope: str) -> TokenAuth:
    return TokenAuth(scope)


def token_of(request: HttpRequest) -> ApiToken:
    token: Any = getattr(request, "auth", None)
    if not isinstance(token, ApiToken):  # only reachable without an auth class: a programming error
        raise AuthorizationError(message="No API token.")
    return token
