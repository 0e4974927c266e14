"""Admin of webhooks: endpoints (the secret shown once, rotate, enable or disable, send a test event)
and each endpoint's delivery log (filter by status, replay). An endpoint's owner sees their own
endpoints and deliveries; administrators see all. Every write goes through campaigns.services.webhooks."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from campaigns.forms import WebhookEndpointForm
from campaigns.models import WebhookDelivery, WebhookEndpoint
from campaigns.services.webhooks import (
    WebhookError,
    webhook_deliveries_replay,
    webhook_endpoint_change,
    webhook_endpoint_create,
    webhook_endpoint_disable,
    webhook_endpoint_enable,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_send_test,
)
from nurture.admin.base import ReadOnlyAdminMixin, ScopedAdmin, acting_user
from nurture.admin.paginators import CappedCountPaginator

SHOWN_ONCE = "Copy it now: it is not shown again."


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ScopedAdmin[WebhookEndpoint]):
    form = WebhookEndpointForm
    list_display = ["url", "description", "types", "owner", "enabled", "failing_since", "delivery_log"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    readonly_fields = ["owner", "enabled", "disabled_reason", "failing_since", "previous_secret_expires_at"]
    actions = ["send_test_event", "rotate_secret", "enable", "disable"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.visible_to(request.user).select_related("owner")

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> list[str]:
        return [] if obj is None else list(self.readonly_fields)

    @admin.display(description="event types")
    def types(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types or [])

    @admin.display(description="delivery log")
    def delivery_log(self, obj: WebhookEndpoint) -> str:
        url = reverse("admin:campaigns_webhookdelivery_changelist") + f"?endpoint={obj.pk}"
        return format_html('<a href="{}">Deliveries</a>', url)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                webhook_endpoint_change(
                    endpoint=obj, url=data["url"], event_types=data["event_types"], description=data["description"]
                )
                return
            created = webhook_endpoint_create(
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                owner=acting_user(request),
            )
        except WebhookError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            raise
        obj.pk = created.pk
        self.message_user(
            request, f"The signing secret of {created.url} is {created.secret} . {SHOWN_ONCE}", messages.WARNING
        )

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            try:
                event = webhook_endpoint_send_test(endpoint=endpoint)
            except WebhookError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(
                request, f"A test event ({event.message_id}) is on its way to {endpoint.url}.", messages.SUCCESS
            )

    @admin.action(description="Rotate the signing secret (the old one signs too for 24 hours)", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            secret = webhook_endpoint_rotate_secret(endpoint=endpoint)
            self.message_user(request, f"The new secret of {endpoint.url} is {secret} . {SHOWN_ONCE}", messages.WARNING)

    @admin.action(description="Enable (pending deliveries resume)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        done = 0
        for endpoint in queryset:
            try:
                webhook_endpoint_enable(endpoint=endpoint)
                done += 1
            except WebhookError as exc:
                self.message_user(request, f"{endpoint.url}: {exc}", messages.ERROR)
        self.message_user(request, ngettext("%d endpoint enabled.", "%d endpoints enabled.", done) % done)

    @admin.action(description="Disable", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        by = acting_user(request).get_username()
        done = sum(webhook_endpoint_disable(endpoint=e, reason=f"Disabled by {by}.") for e in queryset)
        self.message_user(request, ngettext("%d endpoint disabled.", "%d endpoints disabled.", done) % done)


class EndpointFilter(admin.SimpleListFilter):
    """The endpoints the user may see, and no others."""

    title = "endpoint"
    parameter_name = "endpoint"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), url) for pk, url in WebhookEndpoint.objects.visible_to(request.user).values_list("pk", "url")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(endpoint_id=value) if value and value.isdigit() else queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, ScopedAdmin[WebhookDelivery]):
    list_display = [
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "webhook_id",
    ]
    list_filter = [EndpointFilter, "status", "event__type"]
    search_fields = ["=event__message_id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    actions = ["replay"]
    fields = readonly_fields = (
        "endpoint",
        "event_type",
        "webhook_id",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "response_excerpt",
        "delivered_at",
        "created_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return WebhookDelivery.objects.visible_to(request.user).select_related("event", "endpoint").order_by("-pk")

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.change_webhookendpoint")

    @admin.display(description="event", ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.display(description="webhook-id")
    def webhook_id(self, obj: WebhookDelivery) -> str:
        return obj.event.message_id

    @admin.display(description="payload")
    def payload(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", obj.event.payload())

    @admin.action(description="Replay (send again now, same webhook-id)", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = webhook_deliveries_replay(deliveries=queryset)
        self.message_user(
            request,
            ngettext("%d delivery queued again.", "%d deliveries queued again.", count) % count,
            messages.SUCCESS,
        )
