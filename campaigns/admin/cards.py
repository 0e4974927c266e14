"""Admin of cards: account managers edit and approve their customers' cards (scoped like
touchpoints); the print room builds a batch from selected cards. Every write goes through
campaigns.services.cards."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from campaigns.admin.batches import batch_built
from campaigns.forms import BatchOptionsForm, CardForm, ReturnedMailForm
from campaigns.models import Card
from campaigns.models.cards import CardQuerySet
from campaigns.services.batches import (
    BatchError,
    batch_create,
)
from campaigns.services.cards import (
    CardError,
    card_approve,
    card_bulk_approve,
    card_update_message,
    listing,
)
from campaigns.services.returns import (
    ReturnCheck,
    ReturnedMailError,
    cards_record_returned,
    cards_undo_returned,
    returned_cards_check,
)
from nurture.admin.base import ConcurrentChangeMixin, ScopedAdmin, acting_user
from nurture.admin.paginators import CappedCountPaginator
from nurture.lib.address import ADDRESS_FIELDS

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec


# A batch's number as the admin shows it: "B12", or a card's code "B12-003", or just "12".
BATCH_NUMBER = re.compile(r"[Bb]?(?P<number>\d{1,18})(?:-\d+)?")

CARD_SNAPSHOT_FIELDS = [
    "recipient_name",
    "recipient_company",
    *ADDRESS_FIELDS,
]


class FitFilter(admin.SimpleListFilter):
    title = "message fits"
    parameter_name = "fits"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Fits"), ("no", "Does not fit"), ("unknown", "Not checked yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        match self.value():
            case "yes":
                return queryset.filter(fits=True)
            case "no":
                return queryset.filter(fits=False)
            case "unknown":
                return queryset.filter(fits__isnull=True)
        return queryset


@admin.register(Card)
class CardAdmin(ConcurrentChangeMixin[Card], ScopedAdmin[Card]):
    concurrent_change_errors = (CardError,)
    paginator = CappedCountPaginator
    form = CardForm
    list_display = ["card", "sequence", "status", "fits_mark", "due_on", "design", "batch_link"]
    list_display_links = ["card"]
    list_filter = ["status", FitFilter, "design", "message_edited"]
    list_select_related = ["touchpoint", "design", "batch"]
    # The customer's name, company and external ID, which the customer list searches too (trigram indexes
    # on PostgreSQL, nurture 0011), rather than the copies on the card, which no index serves: three
    # million cards read for a search. A batch by its number ("12" or "B12") in get_search_results.
    search_fields = [
        "touchpoint__customer__first_name",
        "touchpoint__customer__last_name",
        "touchpoint__customer__company",
        "touchpoint__customer__external_id__exact",
    ]
    search_help_text = "A customer's name, company or external ID, or a batch number (B12)."
    show_full_result_count = False
    list_per_page = 50
    actions = ["approve_cards", "build_batch_from_selection"]

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [path("returned/", view(self.returned_view), name="campaigns_card_returned"), *super().get_urls()]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Card]:
        return cast(CardQuerySet, super().get_queryset(request)).visible_to(request.user)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Card], search_term: str
    ) -> tuple[QuerySet[Card], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        batch = BATCH_NUMBER.fullmatch(search_term.strip())
        if batch:
            results |= queryset.filter(batch_id=int(batch["number"]))  # the batch_id index
        return results, may_have_duplicates

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cards are drafted from card touchpoints

    def has_delete_permission(self, request: HttpRequest, obj: Card | None = None) -> bool:
        return False

    def has_build_batch_permission(self, request: HttpRequest) -> bool:
        return bool(getattr(request.user, "has_perm", lambda perm: False)("campaigns.add_batch"))

    def _editable(self, request: HttpRequest, obj: Card | None) -> bool:
        return (
            obj is not None
            and obj.status in (Card.Status.DRAFT, Card.Status.APPROVED)
            and self.has_change_permission(request, obj)
        )

    def get_fieldsets(self, request: HttpRequest, obj: Card | None = None) -> _FieldsetSpec:
        editable = self._editable(request, obj)
        message_fields: tuple[str, ...] = ("message", "fit") if editable else ("message_text", "fit")
        if obj is not None and obj.status == Card.Status.DRAFT and editable:
            message_fields = (*message_fields, "approve")
        return (
            (None, {"fields": ["touchpoint_link", "status", "design", "sequence_code", "batch_link"]}),
            ("Message", {"fields": message_fields}),
            ("Recipient (as when drafted)", {"fields": tuple(CARD_SNAPSHOT_FIELDS)}),
            ("History", {"fields": ["message_edited", "approved_by", "approved_at", "created_at", "updated_at"]}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Card | None = None) -> list[str]:
        fields = [
            "touchpoint_link",
            "status",
            "design",
            "sequence_code",
            "batch_link",
            "fit",
            "message_text",
            *CARD_SNAPSHOT_FIELDS,
            "message_edited",
            "approved_by",
            "approved_at",
            "created_at",
            "updated_at",
        ]
        if not self._editable(request, obj):
            fields.append("message")
        return fields

    def save_model(self, request: HttpRequest, obj: Card, form: Any, change: bool) -> None:
        # Never a full-row save: the services' conditional UPDATEs, so a batch taken meanwhile wins.
        user = acting_user(request)
        if "message" in form.changed_data:
            card_update_message(card=obj, message=form.cleaned_data["message"], by=user)
            if obj.fits is False:
                self.message_user(request, f"The message does not fit: {obj.fit_problem}", messages.WARNING)
        if form.cleaned_data.get("approve"):
            card_approve(card=obj, by=user)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # nothing related to save; the form's save_m2m would touch nothing but is skipped

    @admin.display(description="card", ordering="recipient_name")
    def card(self, obj: Card) -> str:
        return f"{obj.recipient_name} ({obj.recipient_company})" if obj.recipient_company else obj.recipient_name

    @admin.display(description="sequence code", ordering="sequence")
    def sequence(self, obj: Card) -> str:
        return obj.sequence_code or "-"

    @admin.display(description="fits", boolean=True, ordering="fits")
    def fits_mark(self, obj: Card) -> bool | None:
        return obj.fits

    @admin.display(description="mail by", ordering="touchpoint__due_on")
    def due_on(self, obj: Card) -> str:
        return obj.touchpoint.due_on.isoformat()

    @admin.display(description="batch")
    def batch_link(self, obj: Card) -> str:
        if obj.batch_id is None:
            return "-"
        return format_html(
            '<a href="{}">B{}</a>', reverse("admin:campaigns_batch_change", args=[obj.batch_id]), obj.batch_id
        )

    @admin.display(description="touchpoint")
    def touchpoint_link(self, obj: Card) -> str:
        touchpoint = obj.touchpoint
        return format_html(
            '<a href="{}">{} for {}, due {}</a>',
            reverse("admin:campaigns_touchpoint_change", args=[touchpoint.pk]),
            touchpoint.rule.name,
            touchpoint.customer,
            touchpoint.due_on.isoformat(),
        )

    @admin.display(description="sequence code")
    def sequence_code(self, obj: Card) -> str:
        return obj.sequence_code or "- (not in a batch)"

    @admin.display(description="fit")
    def fit(self, obj: Card) -> str:
        if obj.fits is None:
            return "Not checked yet: it is checked when the message is saved or approved."
        if obj.fits:
            return "Fits the inside panel."
        return f"Does not fit: {obj.fit_problem}" if obj.fit_problem else "Does not fit."

    @admin.display(description="message")
    def message_text(self, obj: Card) -> str:
        return format_html('<div style="white-space:pre-wrap">{}</div>', obj.message)

    # --- Returned mail ----------------------------------------------------------------------

    def returned_view(self, request: HttpRequest) -> HttpResponse:
        """The print room records returned cards by their codes: check (a preview), then record, all or none."""
        if not request.user.has_perm("campaigns.print_cards"):
            raise PermissionDenied
        form = ReturnedMailForm(request.POST if request.method == "POST" else None)
        check: ReturnCheck | None = None
        if form.is_valid():
            codes = form.cleaned_data["codes"]
            user = acting_user(request)
            try:
                if "record" in request.POST:
                    result = cards_record_returned(codes=codes, by=user)
                    self.message_user(
                        request,
                        ngettext(
                            "Recorded %(count)d returned card (%(codes)s)",
                            "Recorded %(count)d returned cards (%(codes)s)",
                            result.returned,
                        )
                        % {"count": result.returned, "codes": listing(result.codes)}
                        + f": {result.customers_flagged} address(es) flagged undeliverable, "
                        f"{result.cards_held} further card(s) held until the address changes.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:campaigns_card_returned"))
                if "undo" in request.POST:
                    result = cards_undo_returned(codes=codes, by=user)
                    self.message_user(
                        request,
                        f"Put back as mailed: {listing(result.codes)}; "
                        f"{result.customers_flagged} address flag(s) lifted.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:campaigns_card_returned"))
            except ReturnedMailError as exc:
                check = ReturnCheck(problems=exc.problems)
            else:
                check = returned_cards_check(codes=codes)
        context = {
            **self.admin_site.each_context(request),
            "title": "Record returned mail",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "check": check,
            "changelist_url": reverse("admin:campaigns_card_changelist"),
        }
        return TemplateResponse(request, "admin/campaigns/card/returned.html", context)

    # --- Actions ----------------------------------------------------------------------------

    @admin.action(description="Approve selected cards", permissions=["change"])
    def approve_cards(self, request: HttpRequest, queryset: QuerySet[Card]) -> None:
        result = card_bulk_approve(cards=queryset, by=acting_user(request))
        if result.approved:
            message = ngettext("Approved %(count)d card.", "Approved %(count)d cards.", result.approved) % {
                "count": result.approved
            }
            self.message_user(request, message, messages.SUCCESS)
        if result.problems:
            self.message_user(request, f"Not approved: {listing(result.problems)}.", messages.WARNING)

    @admin.action(description="Build a print batch from selected cards…", permissions=["build_batch"])
    def build_batch_from_selection(self, request: HttpRequest, queryset: QuerySet[Card]) -> HttpResponse | None:
        form = BatchOptionsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                batch = batch_create(
                    due_by=None,
                    sheet=form.cleaned_data["sheet"],
                    labels=form.cleaned_data["labels"],
                    order=form.cleaned_data["order"],
                    by=acting_user(request),
                    card_ids=list(queryset.values_list("pk", flat=True)),
                )
            except BatchError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            return batch_built(self, request, batch)
        count = queryset.count()
        context = {
            **self.admin_site.each_context(request),
            "title": "Build a print batch",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "count": count,
            "preview": queryset.select_related("touchpoint")[:20],
            "more": max(0, count - 20),
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:campaigns_card_changelist"),
            "action": "build_batch_from_selection",
            "submit": "Build the batch",
        }
        return TemplateResponse(request, "admin/campaigns/card/batch_form.html", context)
