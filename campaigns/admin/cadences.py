"""Admin of cadences and their rules: the stages of the journey, the rules, and on the cadence's page
its journey map (selectors.journey_map) and customers per stage (selectors.stages), with their
figures from the nightly job's stored ones when it has written them (selectors.cadence_figures)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditlog.mixins import AuditlogHistoryAdminMixin
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from campaigns.forms import CadenceForm, RuleForm
from campaigns.models import Cadence, Rule, Stage
from campaigns.selectors.cadence_figures import cadence_stage_figures, cadence_step_figures
from campaigns.selectors.cadence_preview import cadence_preview
from campaigns.selectors.journey_map import cadence_journey_map

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec


RULE_FIELDSETS: _FieldsetSpec = [
    (None, {"fields": [("name", "slug"), "action", "stage", "active"]}),
    (
        "When",
        {
            "fields": [
                ("offset_amount", "offset_unit"),
                ("repeat_every_months", "repeat_count", "repeat_until"),
                "business_day_policy",
                "card_lead_days",
                "hold_while_at_risk",
            ],
            "description": "Counted from the milestone (or, in a seasonal cadence, from each year's date), never "
            "from the previous occurrence. Changing these cancels the pending touchpoints and plans them again.",
        },
    ),
    ("Card", {"fields": ["card_design", "message_template", "celebratory", "auto_approve"], "classes": ["collapse"]}),
]


def describe_schedule(rule: Rule) -> str:
    """A rule's timing in words (Rule.schedule_in_words)."""
    return rule.schedule_in_words()


class StageInline(admin.TabularInline[Stage, Cadence]):
    model = Stage
    fields = ["name", "position"]
    extra = 0
    verbose_name_plural = "stages of the journey (e.g. onboarding, adoption, renewal, advocacy)"


def _stages_of(form: Any, cadence: Cadence | None) -> None:
    """A rule's stage is one of its own cadence's stages."""
    field = form.base_fields.get("stage")
    if field is not None:
        field.queryset = Stage.objects.filter(cadence=cadence) if cadence is not None else Stage.objects.none()


class RuleInline(admin.StackedInline[Rule, Cadence]):
    model = Rule
    form = RuleForm
    fieldsets = RULE_FIELDSETS
    prepopulated_fields = {"slug": ["name"]}
    extra = 0
    show_change_link = True

    def get_formset(self, request: HttpRequest, obj: Cadence | None = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        _stages_of(formset.form, obj)
        return formset


@admin.register(Cadence)
class CadenceAdmin(AuditlogHistoryAdminMixin, admin.ModelAdmin[Cadence]):
    show_auditlog_history_link = True
    form = CadenceForm
    list_display = ["name", "counts_from", "segment", "rule_count", "active"]
    list_filter = ["active", "anchor", "anchor_kind", "tags"]
    list_select_related = ["anchor_kind"]
    search_fields = ["name", "description"]
    filter_horizontal = ["tags"]
    autocomplete_fields = ["excluded_customers"]
    readonly_fields = ["reach"]
    fieldsets = [
        (None, {"fields": ["name", "description", "active"]}),
        (
            "Counts from",
            {
                "fields": [
                    "anchor",
                    "anchor_kind",
                    ("anchor_month", "anchor_day"),
                    "anchor_date",
                    "anchor_holiday",
                ],
                "description": "A milestone kind, or a date: every year on a day and month, once, or a public "
                "holiday of each customer's own country. Cards are mailed to arrive by the date, with the rule's "
                "lead days and the business days of the customer's country.",
            },
        ),
        (
            "Segment",
            {
                "fields": ["tags", "tiers", "countries", "excluded_customers", "reach"],
                "description": "Only active customers are ever planned; do-not-contact, holds, quiet periods and "
                "the frequency cap apply as for every cadence.",
            },
        ),
        (
            "Reacting to call outcomes",
            {
                "fields": [
                    ("no_answer_retry_days", "no_answer_max_retries"),
                    ("at_risk_follow_up_days", "at_risk_quiet_days"),
                ],
                "description": "What an outcome logged on one of this cadence's calls changes next. A rule that "
                "counts from the last contact (anchor kind last_contact) restarts when a call reaches the customer.",
            },
        ),
    ]
    inlines = [StageInline, RuleInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cadence]:
        return super().get_queryset(request).annotate(rule_total=Count("rules")).prefetch_related("tags")

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/journey-map.svg", view(self.journey_map_view), name="campaigns_cadence_journey_map"),
            path("<int:pk>/preview/", view(self.preview_view), name="campaigns_cadence_preview"),
            *super().get_urls(),
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Cadence | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk is not None:
            # Drawn above the inlines: the designed journey and how it performs, one picture.
            steps = cadence_step_figures(cadence=obj, user=request.user)
            context["journey_map"] = cadence_journey_map(cadence=obj, user=request.user, figures=steps.figures)
            context["step_figures"] = steps
            context["stage_figures"] = cadence_stage_figures(cadence=obj, user=request.user)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def journey_map_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The journey map alone, as an SVG file (to download, or to show elsewhere as an <img>)."""
        cadence = Cadence.objects.filter(pk=pk).select_related("anchor_kind").first()
        if cadence is None:
            raise Http404("No such cadence.")
        if not self.has_view_permission(request, cadence):
            raise PermissionDenied
        steps = cadence_step_figures(cadence=cadence, user=request.user)
        journey_map = cadence_journey_map(cadence=cadence, user=request.user, figures=steps.figures)
        svg = render_to_string(
            "admin/campaigns/cadence/journey_map.svg", {"journey_map": journey_map, "step_figures": steps}
        )
        return HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")

    @admin.display(description="rules", ordering="rule_total")
    def rule_count(self, obj: Cadence) -> int:
        return int(getattr(obj, "rule_total", 0))

    @admin.display(description="counts from", ordering="anchor")
    def counts_from(self, obj: Cadence) -> str:
        return describe_anchor(obj)

    @admin.display(description="segment")
    def segment(self, obj: Cadence) -> str:
        return describe_segment(obj)

    @admin.display(description="reach")
    def reach(self, obj: Cadence) -> str:
        if obj.pk is None:
            return "Save the cadence (inactive, if it should not plan yet) to preview its reach."
        url = reverse("admin:campaigns_cadence_preview", args=[obj.pk])
        return format_html('<a href="{}">Preview how many customers this cadence reaches, by country</a>', url)

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """How many customers the cadence (active or not) would reach, by country, with their dates."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        cadence = Cadence.objects.filter(pk=pk).prefetch_related("tags").first()
        if cadence is None:
            raise Http404("No such cadence")
        preview = cadence_preview(cadence=cadence, user=request.user, today=timezone.localdate())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Reach of {cadence.name}",
            "cadence": cadence,
            "counts_from": describe_anchor(cadence),
            "segment": describe_segment(cadence),
            "preview": preview,
            "change_url": reverse("admin:campaigns_cadence_change", args=[cadence.pk]),
            "changelist_url": reverse("admin:campaigns_cadence_changelist"),
        }
        return TemplateResponse(request, "admin/campaigns/cadence/preview.html", context)


def describe_anchor(cadence: Cadence) -> str:
    """What a cadence counts from, in words: "Became a customer", "every 1 December", "Thanksgiving"."""
    if cadence.anchor == Cadence.Anchor.ANNUAL and cadence.anchor_month and cadence.anchor_day:
        month = MONTHS[cadence.anchor_month - 1]
        return f"every {cadence.anchor_day} {month}"
    if cadence.anchor == Cadence.Anchor.ONCE and cadence.anchor_date:
        return f"once, on {cadence.anchor_date.isoformat()}"
    if cadence.anchor == Cadence.Anchor.HOLIDAY:
        return f"{cadence.anchor_holiday} (each customer's country)"
    return str(cadence.anchor_kind) if cadence.anchor_kind_id else "-"


def describe_segment(cadence: Cadence) -> str:
    """A cadence's segment in words: "tags vip or press; tiers gold; countries US, CA"."""
    parts = []
    tags = [tag.slug for tag in cadence.tags.all()]
    if tags:
        parts.append(f"tags {' or '.join(sorted(tags))}")
    if cadence.tier_list:
        parts.append(f"tiers {', '.join(cadence.tier_list)}")
    if cadence.country_list:
        parts.append(f"countries {', '.join(cadence.country_list)}")
    return "; ".join(parts) or "everyone"


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@admin.register(Rule)
class RuleAdmin(AuditlogHistoryAdminMixin, admin.ModelAdmin[Rule]):
    show_auditlog_history_link = True
    form = RuleForm
    list_display = ["name", "slug", "cadence", "action", "schedule", "business_day_policy", "active", "version"]
    list_filter = ["cadence", "action", "active"]
    list_select_related = ["cadence"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["version", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["cadence"]}),
        *RULE_FIELDSETS,
        ("History", {"fields": ["version", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_form(self, request: HttpRequest, obj: Rule | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            _stages_of(form, obj.cadence)
        return form

    @admin.display(description="when")
    def schedule(self, obj: Rule) -> str:
        return describe_schedule(obj)
