"""Admin of cadences and their rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditlog.mixins import AuditlogHistoryAdminMixin
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from campaigns.forms import RuleForm
from campaigns.models import Cadence, Rule

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec


RULE_FIELDSETS: _FieldsetSpec = [
    (None, {"fields": [("name", "slug"), "action", "active"]}),
    (
        "When",
        {
            "fields": [
                ("offset_amount", "offset_unit"),
                ("repeat_every_months", "repeat_count", "repeat_until"),
                "business_day_policy",
                "card_lead_days",
            ],
            "description": "Counted from the milestone, never from the previous occurrence. Changing these cancels "
            "the pending touchpoints and plans them again.",
        },
    ),
    ("Card", {"fields": ["card_design", "message_template", "celebratory", "auto_approve"], "classes": ["collapse"]}),
]


def describe_schedule(rule: Rule) -> str:
    """A rule's timing in words: "14 days after", "2 weeks before, every year, 3 times"."""
    amount = rule.offset_amount
    if amount == 0:
        words = "on the day"
    else:
        unit = rule.offset_unit if abs(amount) != 1 else rule.offset_unit.removesuffix("s")
        words = f"{abs(amount)} {unit} {'after' if amount > 0 else 'before'}"
    every = rule.repeat_every_months
    if every:
        words += ", every year" if every == 12 else ", every month" if every == 1 else f", every {every} months"
        if rule.repeat_count:
            words += f", {rule.repeat_count} times"
        if rule.repeat_until:
            words += f", until {rule.repeat_until.isoformat()}"
    return words


class RuleInline(admin.StackedInline[Rule, Cadence]):
    model = Rule
    form = RuleForm
    fieldsets = RULE_FIELDSETS
    prepopulated_fields = {"slug": ["name"]}
    extra = 0
    show_change_link = True


@admin.register(Cadence)
class CadenceAdmin(AuditlogHistoryAdminMixin, admin.ModelAdmin[Cadence]):
    show_auditlog_history_link = True
    list_display = ["name", "anchor_kind", "tag", "rule_count", "active"]
    list_filter = ["active", "anchor_kind", "tag"]
    list_select_related = ["anchor_kind", "tag"]
    search_fields = ["name", "description"]
    fieldsets = [
        (None, {"fields": ["name", "description", "anchor_kind", "tag", "active"]}),
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
    inlines = [RuleInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cadence]:
        return super().get_queryset(request).annotate(rule_total=Count("rules"))

    @admin.display(description="rules", ordering="rule_total")
    def rule_count(self, obj: Cadence) -> int:
        return int(getattr(obj, "rule_total", 0))


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

    @admin.display(description="when")
    def schedule(self, obj: Rule) -> str:
        return describe_schedule(obj)
