"""API tokens in the admin: who has which, when each was last used; revoke. Tokens are created
with `manage.py create_api_token`, which prints the secret once (docs/api.md)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from nurture.admin.base import acting_user
from nurture.models import ApiToken
from nurture.services.api_tokens import api_tokens_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("name", "owner", "prefix", "scope_list", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "owner__username")
    readonly_fields = (
        "name",
        "owner",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "expiry_warned_at",
        "revoked_at",
    )
    actions = ["revoke"]

    @admin.display(description="scopes")
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request).select_related("owner")
        user = acting_user(request)
        # Everyone sees their own tokens; only a superuser sees everyone's.
        return tokens if getattr(user, "is_superuser", False) else tokens.filter(owner_id=user.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created by `manage.py create_api_token`, which shows the secret once

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = api_tokens_revoke(tokens=queryset)
        message = ngettext("Revoked %(count)d token.", "Revoked %(count)d tokens.", count) % {"count": count}
        self.message_user(request, message, messages.SUCCESS)
