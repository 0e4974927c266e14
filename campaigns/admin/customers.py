"""The customer page with the campaign side on it: the journey above the inlines, the latest
touchpoints in a read-only inline, and a link to every touchpoint of the customer.

The customer side registers its own CustomerAdmin (nurture.admin.customers), which knows nothing
of touchpoints; this module registers the same admin again with those parts added.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from campaigns.models import Touchpoint
from campaigns.selectors.journey import customer_journey
from nurture.admin.base import ReadOnlyAdminMixin
from nurture.admin.customers import CustomerAdmin
from nurture.models import Customer

# The customer page shows this many of the customer's touchpoints; the rest are a link away.
CUSTOMER_PAGE_TOUCHPOINTS = 25


class TouchpointInline(ReadOnlyAdminMixin, admin.TabularInline[Touchpoint, Customer]):
    """The customer's journey, read-only: the planner writes touchpoints, people act on them."""

    model = Touchpoint
    fields = ["due_on", "occurs_on", "rule", "kind", "status", "outcome", "late"]
    readonly_fields = ["due_on", "occurs_on", "rule", "kind", "status", "outcome", "late"]
    ordering = ["due_on", "id"]
    can_delete = False
    show_change_link = True
    extra = 0
    verbose_name_plural = f"touchpoints (the latest {CUSTOMER_PAGE_TOUCHPOINTS})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Touchpoint]:
        return super().get_queryset(request).select_related("rule")


class CustomerJourneyAdmin(CustomerAdmin):
    readonly_fields = ["journey", *CustomerAdmin.readonly_fields]
    fieldsets = [
        *CustomerAdmin.fieldsets[:-1],
        ("Record", {"fields": ["journey", "created_at", "updated_at"]}),
    ]
    inlines = [*CustomerAdmin.inlines, TouchpointInline]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Customer | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk is not None:
            context["journey"] = customer_journey(customer=obj)  # drawn above the inlines
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_formset_kwargs(
        self, request: HttpRequest, obj: Customer, inline: InlineModelAdmin[Any, Customer], prefix: str
    ) -> dict[str, Any]:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, TouchpointInline) and obj.pk is not None:
            latest = Touchpoint.objects.filter(customer=obj).order_by("-due_on", "-id").values("pk")
            kwargs["queryset"] = kwargs["queryset"].filter(pk__in=latest[:CUSTOMER_PAGE_TOUCHPOINTS])
        return kwargs

    @admin.display(description="all touchpoints")
    def journey(self, obj: Customer) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:campaigns_touchpoint_changelist") + f"?customer__id__exact={obj.pk}"
        return format_html('<a href="{}">Every touchpoint of this customer</a>', url)


admin.site.unregister(Customer)
admin.site.register(Customer, CustomerJourneyAdmin)
