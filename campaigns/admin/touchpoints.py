"""Admin of touchpoints: the account managers' work list.

The touchpoint list is where an account manager works: a "Queue" filter (mine, due today,
overdue, upcoming, each in the customer's time zone), actions that log a call's outcome, snooze
or skip, and a change page that logs an outcome with notes. Every write goes through
campaigns.services.touchpoints; the planner alone creates touchpoints.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AdminDateWidget
from django.db.models import ForeignKey, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import ngettext

from campaigns.models import Touchpoint
from campaigns.models.touchpoints import TouchpointQuerySet
from campaigns.selectors import touchpoint_export
from campaigns.services.touchpoints import (
    TouchpointError,
    touchpoint_bulk_log_outcome,
    touchpoint_bulk_skip,
    touchpoint_bulk_snooze,
    touchpoint_log_outcome,
)
from nurture.admin.base import ConcurrentChangeMixin, ScopedAdmin, acting_user, staff_users
from nurture.admin.exports import CsvExportMixin, export_selected_csv
from nurture.admin.paginators import CappedCountPaginator
from nurture.lib import calendar
from nurture.querysets import sees_all_customers

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldOpts, _FieldsetSpec

# --- Touchpoints ----------------------------------------------------------------------


class QueueFilter(admin.SimpleListFilter):
    """An account manager's work list; "today" is the date where each customer is."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("mine", "Mine"),
            ("mine_today", "Mine, due today"),
            ("mine_overdue", "Mine, overdue"),
            ("today", "Due today"),
            ("overdue", "Overdue"),
            ("upcoming", "Upcoming"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        touchpoints = cast(TouchpointQuerySet, queryset)
        match self.value():
            case "mine":
                return touchpoints.assigned_to(acting_user(request)).pending()
            case "mine_today":  # the Today page's "see all" links
                return touchpoints.assigned_to(acting_user(request)).due_today()
            case "mine_overdue":
                return touchpoints.assigned_to(acting_user(request)).overdue()
            case "today":
                return touchpoints.due_today()
            case "overdue":
                return touchpoints.overdue()
            case "upcoming":
                return touchpoints.upcoming()
        return queryset


class TouchpointForm(forms.ModelForm[Touchpoint]):
    """The change page: log a pending call's outcome with notes (and, for admins, reassign)."""

    log_outcome = forms.ChoiceField(
        label="Outcome",
        choices=[("", "---------"), *Touchpoint.Outcome.choices],
        required=False,
        help_text="How the call went. Saving with an outcome marks the call done.",
    )
    log_notes = forms.CharField(
        label="Notes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="What was said or agreed; kept with the call.",
    )

    class Meta:
        model = Touchpoint
        fields = ["assignee"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("log_notes", "").strip() and not data.get("log_outcome"):
            self.add_error("log_outcome", "Choose how the call went to save the notes.")
        if data.get("log_outcome") and self.instance.status != Touchpoint.Status.PENDING:
            self.add_error(None, f"This call is already {self.instance.get_status_display().lower()}.")
        return data


class SnoozeForm(forms.Form):
    until = forms.DateField(
        label="Snooze until",
        widget=AdminDateWidget,
        help_text="The new due date: after the current one and not before the customer's today.",
    )


class SkipForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Why it will not be done, e.g. 'customer asked for no calls this quarter'. Kept with the touchpoint.",
    )


# Planned by the planner: nobody edits these in the admin.
PLANNED_FIELDS = [
    "customer",
    "rule",
    "kind",
    "status",
    "occurs_on",
    "due_on",
    "snoozed_from",
    "late",
    "milestone",
    "milestone_date",
    "occurrence_index",
    "rule_version",
]
RESULT_FIELDS = ["outcome", "notes", "skip_reason", "cancel_reason", "completed_at", "completed_by"]
BOOKKEEPING_FIELDS = ["created_at", "updated_at"]


@admin.register(Touchpoint)
class TouchpointAdmin(ConcurrentChangeMixin[Touchpoint], CsvExportMixin[Touchpoint], ScopedAdmin[Touchpoint]):
    concurrent_change_errors = (TouchpointError,)
    paginator = CappedCountPaginator
    form = TouchpointForm
    list_display = ["due_on", "customer", "rule", "kind", "status", "outcome", "late", "assignee"]
    list_display_links = ["due_on", "customer"]
    list_filter = [QueueFilter, "status", "kind", "late", ("due_on", admin.DateFieldListFilter), "rule"]
    list_select_related = ["customer", "rule", "assignee"]
    # The customer's columns, trigram-indexed on PostgreSQL (nurture 0011); the external ID exact.
    search_fields = ["customer__first_name", "customer__last_name", "customer__company", "customer__external_id__exact"]
    # No date_hierarchy: its MIN/MAX and DISTINCT year read every touchpoint of the list
    # (docs/benchmarks-admin.md); the due date filter above runs no query.
    show_full_result_count = False
    list_per_page = 50
    actions = ["log_reached", "log_voicemail", "log_no_answer", "snooze", "skip", export_selected_csv]
    csv_name = "touchpoints"
    # An "Export all (filtered)" button (nurture/admin/exports.py).
    change_list_template = "admin/nurture/import/change_list.html"

    def csv_rows(self, queryset: QuerySet[Touchpoint]) -> tuple[list[str], Iterator[Mapping[str, object]]]:
        touchpoints = cast(TouchpointQuerySet, queryset.select_related("customer", "rule", "assignee"))
        return list(touchpoint_export.FIELDS), touchpoint_export.records(touchpoints)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Touchpoint]:
        return cast(TouchpointQuerySet, super().get_queryset(request)).visible_to(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the planner creates touchpoints

    def has_delete_permission(self, request: HttpRequest, obj: Touchpoint | None = None) -> bool:
        return False  # history: cancelled, skipped and done rows stay

    def _can_log(self, request: HttpRequest, obj: Touchpoint | None) -> bool:
        return (
            obj is not None
            and obj.kind == Touchpoint.Kind.CALL
            and obj.status == Touchpoint.Status.PENDING
            and self.has_change_permission(request, obj)
        )

    def get_fieldsets(self, request: HttpRequest, obj: Touchpoint | None = None) -> _FieldsetSpec:
        fieldsets: list[tuple[str | None, _FieldOpts]] = [
            (None, {"fields": [*PLANNED_FIELDS[:8], "assignee"]}),
            ("Customer", {"fields": ["customer_contact"]}),
        ]
        if self._can_log(request, obj):
            fieldsets.append(("Log the call", {"fields": ["log_outcome", "log_notes"]}))
        fieldsets += [
            ("Result", {"fields": [*RESULT_FIELDS]}),
            ("Planning", {"fields": [*PLANNED_FIELDS[8:], *BOOKKEEPING_FIELDS], "classes": ["collapse"]}),
        ]
        return tuple(fieldsets)

    def get_readonly_fields(self, request: HttpRequest, obj: Touchpoint | None = None) -> list[str]:
        fields = [*PLANNED_FIELDS, *RESULT_FIELDS, *BOOKKEEPING_FIELDS, "customer_contact"]
        if not sees_all_customers(request.user) or obj is None or obj.status != Touchpoint.Status.PENDING:
            fields.append("assignee")
        return fields

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "assignee":
            kwargs["queryset"] = staff_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Touchpoint, form: Any, change: bool) -> None:
        # Never a full-row save: only what this page changes, so a concurrent outcome is not overwritten.
        if "assignee" in form.changed_data:
            obj.save(update_fields=["assignee", "updated_at"])
        outcome = form.cleaned_data.get("log_outcome")
        if outcome:
            touchpoint_log_outcome(
                touchpoint=obj, outcome=outcome, notes=form.cleaned_data.get("log_notes", ""), by=acting_user(request)
            )

    @admin.display(description="contact")
    def customer_contact(self, obj: Touchpoint) -> str:
        customer = obj.customer
        parts = [customer.phone or "no phone", customer.email or "no e-mail"]
        today = calendar.local_today(timezone.now(), customer.time_zone)
        parts.append(f"{customer.time_zone}, where it is {today.strftime('%a %d %b %Y')}")
        return " · ".join(parts)

    # --- Actions ----------------------------------------------------------------------

    def _log(self, request: HttpRequest, queryset: QuerySet[Touchpoint], outcome: Touchpoint.Outcome) -> None:
        try:
            count = touchpoint_bulk_log_outcome(touchpoints=queryset, outcome=outcome, by=acting_user(request))
        except TouchpointError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        message = ngettext(
            "Logged “%(outcome)s” for %(count)d call.", "Logged “%(outcome)s” for %(count)d calls.", count
        ) % {"outcome": outcome.label, "count": count}
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Log outcome: reached", permissions=["change"])
    def log_reached(self, request: HttpRequest, queryset: QuerySet[Touchpoint]) -> None:
        self._log(request, queryset, Touchpoint.Outcome.REACHED)

    @admin.action(description="Log outcome: left a voicemail", permissions=["change"])
    def log_voicemail(self, request: HttpRequest, queryset: QuerySet[Touchpoint]) -> None:
        self._log(request, queryset, Touchpoint.Outcome.VOICEMAIL)

    @admin.action(description="Log outcome: no answer", permissions=["change"])
    def log_no_answer(self, request: HttpRequest, queryset: QuerySet[Touchpoint]) -> None:
        self._log(request, queryset, Touchpoint.Outcome.NO_ANSWER)

    @admin.action(description="Snooze to a date…", permissions=["change"])
    def snooze(self, request: HttpRequest, queryset: QuerySet[Touchpoint]) -> HttpResponse | None:
        form = SnoozeForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            until = form.cleaned_data["until"]
            try:
                count = touchpoint_bulk_snooze(touchpoints=queryset, until=until, by=acting_user(request))
            except TouchpointError as exc:
                form.add_error(None, str(exc))
            else:
                message = ngettext(
                    "Snoozed %(count)d touchpoint to %(date)s.", "Snoozed %(count)d touchpoints to %(date)s.", count
                ) % {"count": count, "date": until.isoformat()}
                self.message_user(request, message, messages.SUCCESS)
                return None
        return self._action_page(request, queryset, form, action="snooze", title="Snooze touchpoints", submit="Snooze")

    @admin.action(description="Skip with a reason…", permissions=["change"])
    def skip(self, request: HttpRequest, queryset: QuerySet[Touchpoint]) -> HttpResponse | None:
        form = SkipForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                count = touchpoint_bulk_skip(
                    touchpoints=queryset, reason=form.cleaned_data["reason"], by=acting_user(request)
                )
            except TouchpointError as exc:
                form.add_error(None, str(exc))
            else:
                message = ngettext("Skipped %(count)d touchpoint.", "Skipped %(count)d touchpoints.", count) % {
                    "count": count
                }
                self.message_user(request, message, messages.SUCCESS)
                return None
        return self._action_page(request, queryset, form, action="skip", title="Skip touchpoints", submit="Skip")

    def _action_page(
        self,
        request: HttpRequest,
        queryset: QuerySet[Touchpoint],
        form: forms.Form,
        *,
        action: str,
        title: str,
        submit: str,
    ) -> TemplateResponse:
        """The intermediate page of an action that needs input; it posts back to the changelist."""
        select_across = request.POST.get("select_across") == "1"
        preview = 20
        count = queryset.count()
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "action": action,
            "submit": submit,
            "count": count,
            "preview": queryset.select_related("customer")[:preview],
            "more": max(0, count - preview),
            "select_across": select_across,
            # The boxes ticked on the page: Django needs them even when the selection spans all pages.
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:campaigns_touchpoint_changelist"),
        }
        return TemplateResponse(request, "admin/campaigns/touchpoint/action_form.html", context)
