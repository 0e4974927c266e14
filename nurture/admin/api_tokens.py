"""API tokens in the admin: who has which, when each was last used; create one (its secret shown
once, on the page that answers the creation); revoke. `manage.py create_api_token` does the same
from a shell (docs/api.md)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import ngettext

from nurture.admin.base import acting_user
from nurture.models import ApiToken, Scope
from nurture.services.api_tokens import ApiTokenError, api_token_create, api_tokens_revoke


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the integration is, e.g. 'HubSpot' or 'Help desk'.")
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        help_text="The token acts as this user: it sees and changes only the customers they see.",
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, help_text="What the token may do."
    )
    expires_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        help_text="Empty: never expires. The owner gets an e-mail 14 days before.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).order_by(get_user_model().USERNAME_FIELD)
        # Only a superuser gives a token to someone else: a token acts as its owner.
        field = self.fields["owner"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = users if getattr(user, "is_superuser", False) else users.filter(pk=user.pk)
        field.initial = user.pk


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

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """Create a token. The answer to the creation is the only page that ever shows its secret:
        it is not stored (only its hash), the page is not cached (admin_view's never_cache, and
        no-store), and reloading it would post again (and be refused: one name per owner)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        user = acting_user(request)
        form = ApiTokenCreateForm(request.POST or None, user=user)
        created = None
        if request.method == "POST" and form.is_valid():
            try:
                created = api_token_create(
                    name=form.cleaned_data["name"],
                    owner=form.cleaned_data["owner"],
                    scopes=form.cleaned_data["scopes"],
                    expires_days=form.cleaned_data["expires_days"],
                )
            except ApiTokenError as exc:
                form.add_error(None, str(exc))
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created" if created else "Create an API token",
            "opts": self.opts,
            "form": form,
            "created": created,
            "changelist_url": reverse("admin:nurture_apitoken_changelist"),
        }
        response = TemplateResponse(request, "admin/nurture/apitoken/create.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = api_tokens_revoke(tokens=queryset)
        message = ngettext("Revoked %(count)d token.", "Revoked %(count)d tokens.", count) % {"count": count}
        self.message_user(request, message, messages.SUCCESS)
