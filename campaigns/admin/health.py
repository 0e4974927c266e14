"""The health score's admin (docs/health.md): measures with a preview before saving, the band
limits, the overrides (read-only: they are made from the customer page), and the backtest."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from campaigns.forms import HealthMeasureForm
from campaigns.models import HealthBands, HealthMeasure, HealthOverride
from campaigns.models.health import HealthOverrideQuerySet
from campaigns.selectors.health import health_backtest
from nurture.admin.base import ReadOnlyAdminMixin, ScopedAdmin


@admin.register(HealthMeasure)
class HealthMeasureAdmin(admin.ModelAdmin[HealthMeasure]):
    form = HealthMeasureForm
    list_display = ["name", "kind", "weight", "trial_weight", "active", "position"]
    list_editable = ["weight", "trial_weight", "active", "position"]
    change_form_template = "admin/campaigns/healthmeasure/change_form.html"
    change_list_template = "admin/campaigns/healthmeasure/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path("backtest/", self.admin_site.admin_view(self.backtest_view), name="campaigns_health_backtest"),
            *super().get_urls(),
        ]

    def get_form(
        self, request: HttpRequest, obj: HealthMeasure | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: HealthMeasure | None = None,
    ) -> HttpResponse:
        form = context["adminform"].form
        context["health_preview"] = getattr(form, "preview", None)
        context["preview_customer"] = getattr(form, "preview_customer_obj", None)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def backtest_view(self, request: HttpRequest) -> HttpResponse:
        """Administrators: were the scores of customers who churned lower than of those who stayed?"""
        if not self.has_change_permission(request):
            raise PermissionDenied
        measures = list(HealthMeasure.objects.active())
        weights = {m.pk: m.weight for m in measures}
        trial = {m.pk: m.trial_weight if m.trial_weight is not None else m.weight for m in measures}
        context = {
            **self.admin_site.each_context(request),
            "title": "Health score backtest",
            "opts": self.opts,
            "measures": measures,
            "has_trial": any(m.trial_weight is not None for m in measures),
            "rows": health_backtest(today=timezone.localdate(), weights=weights, trial_weights=trial),
            "changelist_url": reverse("admin:campaigns_healthmeasure_changelist"),
        }
        return TemplateResponse(request, "admin/campaigns/healthmeasure/backtest.html", context)


@admin.register(HealthBands)
class HealthBandsAdmin(admin.ModelAdmin[HealthBands]):
    list_display = ["__str__", "quiet_days"]
    fields = ["red_below", "green_from", "quiet_days"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row, created by the migration

    def has_delete_permission(self, request: HttpRequest, obj: HealthBands | None = None) -> bool:
        return False


@admin.register(HealthOverride)
class HealthOverrideAdmin(ReadOnlyAdminMixin, ScopedAdmin[HealthOverride]):
    """Every override, also those that expired or were lifted: made and lifted from the customer page."""

    list_display = ["customer", "score", "reason", "starts_on", "expires_on", "created_by", "ended_at"]
    list_select_related = ["customer", "created_by"]
    list_filter = ["expires_on"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[HealthOverride]:
        return cast(HealthOverrideQuerySet, super().get_queryset(request)).visible_to(request.user)
