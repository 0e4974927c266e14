"""Referrals in the admin: the list (status and source filters), adding one (the guards checked by
the form, naming the field), the actions Qualify now and Void (all or nothing). The customer page
lists a customer's referrals (nurture.admin.customers).

Scoped like every admin: an account manager sees the referrals that touch their customers, and
picks referrer and referred customer among their own. A referral is not edited: it moves by the
actions, and the planner and the print room do the rest (docs/referrals.md).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest

from nurture.admin.base import ScopedAdmin
from nurture.admin.paginators import CappedCountPaginator
from nurture.models import Customer, Referral
from nurture.models.referrals import ReferralQuerySet
from nurture.services.customers import InputError
from nurture.services.referrals import (
    ReferralError,
    ReferralInput,
    referral_create,
    referral_problems,
    referrals_qualify,
    referrals_void,
)


class ReferralForm(forms.ModelForm[Referral]):
    class Meta:
        model = Referral
        fields = ["referrer", "referred"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        referrer, referred = data.get("referrer"), data.get("referred")
        if isinstance(referrer, Customer) and isinstance(referred, Customer):
            existing = {r.referred_id: r for r in Referral.objects.filter(referred=referred)}
            # The service's guards, each on its field of this form.
            names = {"referrer": "referrer", "referred": "referred", "referred.email": "referred"}
            names["referred.phone"] = "referred"
            for problem in referral_problems([ReferralInput(referrer=referrer, referred=referred)], existing, names):
                self.add_error(problem.field, problem.message)
        return data

    def validate_unique(self) -> None:
        """The one referrer per referred customer is said by clean(), in the service's words."""


class VoidActionForm(ActionForm):
    reason = forms.CharField(
        required=False, max_length=200, help_text="Void: why (required), e.g. 'duplicate of a lead'."
    )


@admin.register(Referral)
class ReferralAdmin(ScopedAdmin[Referral]):
    paginator = CappedCountPaginator
    form = ReferralForm
    action_form = VoidActionForm
    list_display = ["referred", "referrer", "status", "source", "created_at", "qualifies_on", "thanked_at"]
    list_display_links = ["referred"]
    list_filter = ["status", "source"]
    list_select_related = ["referrer", "referred"]
    search_fields = [
        "referrer__last_name",
        "referred__last_name",
        "referrer__external_id__exact",
        "referred__external_id__exact",
    ]
    # Customer ids, with the lookup popup: a select of a million customers would not load. The
    # form field still accepts only the customers the user sees (ScopedAdmin).
    raw_id_fields = ["referrer", "referred"]
    show_full_result_count = False
    actions = ["qualify_now", "void"]
    readonly_fields = [
        "status",
        "source",
        "source_name",
        "created_at",
        "qualifies_on",
        "qualified_at",
        "milestone",
        "thanked_at",
        "voided_at",
        "void_reason",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Referral]:
        return cast(ReferralQuerySet, super().get_queryset(request)).visible_to(request.user)

    def get_fields(self, request: HttpRequest, obj: Referral | None = None) -> Any:
        if obj is None:
            return ["referrer", "referred"]
        return ["referrer", "referred", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Referral | None = None) -> list[str]:
        if obj is None:
            return []
        return ["referrer", "referred", *self.readonly_fields]

    def has_delete_permission(self, request: HttpRequest, obj: Referral | None = None) -> bool:
        return False  # voided, never deleted: the history of who brought whom

    def save_model(self, request: HttpRequest, obj: Referral, form: Any, change: bool) -> None:
        if change:
            return  # nothing is edited on the page (every field is read-only)
        created = referral_create(referrer=obj.referrer, referred=obj.referred, source=Referral.Source.ADMIN)
        obj.pk, obj.status = created.pk, created.status

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> Any:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except InputError as exc:  # a referral of the same customer made meanwhile: the form had passed
            self.message_user(request, f"Nothing was saved: {exc}", messages.ERROR)
            return self.response_post_save_add(request, Referral())

    @admin.action(description="Qualify now (skip the review period)", permissions=["change"])
    def qualify_now(self, request: HttpRequest, queryset: QuerySet[Referral]) -> None:
        try:
            count = referrals_qualify(referrals=queryset)
        except ReferralError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{count} referral(s) qualified: the referrers will be thanked.", messages.SUCCESS)

    @admin.action(description="Void (give the reason below)", permissions=["change"])
    def void(self, request: HttpRequest, queryset: QuerySet[Referral]) -> None:
        try:
            count = referrals_void(referrals=queryset, reason=request.POST.get("reason", ""))
        except ReferralError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{count} referral(s) voided.", messages.SUCCESS)
