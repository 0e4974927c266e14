"""The customer page with the campaign side on it: the health score (why, trend, sparkline, override),
the journey above the inlines, the latest touchpoints in a read-only inline, and a link to every
touchpoint of the customer.

The customer side registers its own CustomerAdmin (nurture.admin.customers), which knows nothing
of touchpoints; this module registers the same admin again with those parts added.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from campaigns.forms import HealthOverrideForm
from campaigns.models import HealthOverride, HealthSnapshot, Touchpoint
from campaigns.selectors.advocates import advocate_q
from campaigns.selectors.health import health_panel
from campaigns.selectors.journey import customer_journey
from campaigns.services.health import HealthError, health_override_create, health_override_end
from nurture.admin.base import ReadOnlyAdminMixin, acting_user
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


class AdvocateFilter(admin.SimpleListFilter):
    """Advocates: latest NPS answer 9-10, or two referrals or more that count (selectors/advocates.py)."""

    title = "advocate"
    parameter_name = "advocate"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Advocates"), ("no", "Not advocates")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        if self.value() == "yes":
            return queryset.filter(advocate_q())
        if self.value() == "no":
            return queryset.exclude(advocate_q())
        return queryset


class CustomerJourneyAdmin(CustomerAdmin):
    list_filter = [*CustomerAdmin.list_filter, AdvocateFilter]
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
            context["health"] = health_panel(customer=obj, today=timezone.localdate())
            context["can_override"] = request.user.has_perm("campaigns.override_health")
            context["override_url"] = reverse("admin:nurture_customer_health_override", args=[obj.pk])
            context["end_override_url"] = reverse("admin:nurture_customer_health_override_end", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/health/override/", view(self.override_view), name="nurture_customer_health_override"),
            path(
                "<int:pk>/health/override/end/",
                view(self.end_override_view),
                name="nurture_customer_health_override_end",
            ),
            *super().get_urls(),
        ]

    def _overridable(self, request: HttpRequest, pk: int) -> Customer:
        if not request.user.has_perm("campaigns.override_health"):
            raise PermissionDenied
        customer = self.get_object(request, str(pk))  # 404 outside the user's customers
        if customer is None:
            raise Http404
        return customer

    def override_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Override the customer's health score: a lead or an administrator, with a reason and an expiry."""
        customer = self._overridable(request, pk)
        customer_url = reverse("admin:nurture_customer_change", args=[customer.pk])
        form = HealthOverrideForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                health_override_create(
                    customer=customer,
                    score=form.cleaned_data["score"],
                    reason=form.cleaned_data["reason"],
                    expires_on=form.cleaned_data["expires_on"],
                    by=acting_user(request),
                )
            except HealthError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"The health score of {customer} is overridden.")
                return HttpResponseRedirect(customer_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Override the health score of {customer}",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "customer": customer,
            "customer_url": customer_url,
            "health": HealthSnapshot.objects.latest_of(customer),
            "changelist_url": reverse("admin:nurture_customer_changelist"),
        }
        return TemplateResponse(request, "admin/nurture/customer/health_override.html", context)

    def end_override_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        customer = self._overridable(request, pk)
        if request.method != "POST":
            raise PermissionDenied
        override = HealthOverride.objects.filter(customer=customer, pk=request.POST.get("override") or 0).first()
        if override is not None and health_override_end(override=override, by=acting_user(request)):
            messages.success(request, "The override is lifted: the computed score is in force again.")
        else:
            messages.warning(request, "That override had already ended.")
        return HttpResponseRedirect(reverse("admin:nurture_customer_change", args=[customer.pk]))

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
