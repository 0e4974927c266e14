"""Admin of the customer side: customers, their milestones, tags and milestone kinds.

Scoped to the account manager like every admin (nurture.admin.base.ScopedAdmin). The campaign
side extends the customer page with the customer's touchpoints and journey
(campaigns.admin.customers).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, cast

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import ValidationError
from django.db.models import ForeignKey, ManyToManyField, QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, reverse
from django.utils.html import format_html, format_html_join

from nurture.admin.base import ScopedAdmin, acting_user, staff_users
from nurture.admin.exports import CsvExportMixin
from nurture.admin.filters import AccountManagerFilter, CountryFilter, TierFilter, UndeliverableFilter
from nurture.admin.imports import import_urls
from nurture.admin.paginators import CappedCountPaginator
from nurture.models import Customer, Milestone, MilestoneKind, Referral, Tag
from nurture.models.customers import CustomerQuerySet, MilestoneQuerySet
from nurture.querysets import sees_all_customers
from nurture.selectors import customer_export


class MilestoneInline(admin.TabularInline[Milestone, Customer]):
    model = Milestone
    fields = ["kind", "date", "note"]
    extra = 1
    verbose_name_plural = "milestones"


# What a uniqueness error tells someone who does not see every customer: not that another customer
# already has the value (that would be an oracle for data outside their scope), only that it cannot be used.
NEUTRAL_UNIQUE_MESSAGE = "This value cannot be used here. Choose another, or ask an administrator."
UNIQUE_ERROR_CODES = frozenset({"unique", "unique_together"})


# Search results, newest customer first (a column header still sorts them). In the name order a
# common name sits together (every Smith at "S"), so PostgreSQL walks most of the name index before
# the first match: 3 s at a million customers. In id order the matches are spread out, so the first
# page is found at once, and a rare term goes through the trigram indexes and sorts its few rows
# (docs/benchmarks-admin.md, "Search").
SEARCH_ORDERING = ("-pk",)


class CustomerForm(forms.ModelForm[Customer]):
    # Set by CustomerAdmin.get_form() for a user who does not see every customer.
    neutral_unique_errors = False

    def full_clean(self) -> None:
        super().full_clean()  # the model's validation, uniqueness included
        if not self.neutral_unique_errors:
            return
        for errors in self.errors.values():
            errors.data[:] = [
                ValidationError(NEUTRAL_UNIQUE_MESSAGE, code="unavailable")
                if isinstance(error, ValidationError) and error.code in UNIQUE_ERROR_CODES
                else error
                for error in errors.data
            ]

    def clean_country(self) -> str:
        return str(self.cleaned_data.get("country", "")).upper()

    def clean_region(self) -> str:
        return str(self.cleaned_data.get("region", "")).upper()

    def clean_tier(self) -> str:
        return str(self.cleaned_data.get("tier", "")).strip().lower()


@admin.register(Customer)
class CustomerAdmin(AuditlogHistoryAdminMixin, CsvExportMixin[Customer], ScopedAdmin[Customer]):
    paginator = CappedCountPaginator
    show_auditlog_history_link = True
    form = CustomerForm
    list_display = ["name", "company", "country", "account_manager", "status", "tier", "tag_list"]
    list_display_links = ["name"]
    # Filters whose choices come from the indexes, not a DISTINCT over every customer.
    list_filter = [
        "status",
        CountryFilter,
        ("account_manager", AccountManagerFilter),
        TierFilter,
        "tags",
        UndeliverableFilter,
        "holdout",
    ]
    list_select_related = ["account_manager"]
    # Each text column has a trigram index on PostgreSQL (nurture 0011), which serves icontains;
    # the external ID is an exact match on its unique index, as the import matches it.
    search_fields = ["first_name", "last_name", "company", "email", "external_id__exact"]
    show_full_result_count = False
    list_per_page = 50
    csv_name = "customers"
    # "Import CSV" (nurture/admin/imports.py) and "Export all (filtered)" (nurture/admin/exports.py) buttons.
    change_list_template = "admin/nurture/import/change_list.html"
    readonly_fields = ["deliverability", "referrals", "holdout", "created_at", "updated_at"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "external_id",
                    ("first_name", "last_name"),
                    "company",
                    "status",
                    "account_manager",
                    "tier",
                    "tags",
                ]
            },
        ),
        ("Contact", {"fields": ["email", "phone"]}),
        (
            "Address",
            {
                "fields": [
                    "deliverability",
                    "address_line1",
                    "address_line2",
                    ("postal_code", "city"),
                    ("region", "country"),
                    "time_zone",
                ],
                "description": "Country and region select the public holidays; the time zone decides the customer's "
                "'today'.",
            },
        ),
        ("Referrals", {"fields": ["referrals"]}),
        ("Record", {"fields": ["holdout", "created_at", "updated_at"]}),
    ]
    inlines = [MilestoneInline]

    def get_urls(self) -> list[URLPattern]:
        return [*import_urls(self), *super().get_urls()]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        customers = cast(CustomerQuerySet, super().get_queryset(request))
        return customers.visible_to(request.user).prefetch_related("tags")

    def get_ordering(self, request: HttpRequest) -> list[str] | tuple[str, ...]:
        if request.GET.get(SEARCH_VAR):
            return SEARCH_ORDERING
        return super().get_ordering(request)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Customer], search_term: str
    ) -> tuple[QuerySet[Customer], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip() and not queryset.query.order_by:
            # Not ordered yet: the milestone form's customer autocomplete, which lists this queryset
            # as it is. The change list has ordered it already (get_ordering(), or a column header).
            results = results.order_by(*SEARCH_ORDERING)
        return results, may_have_duplicates

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        if sees_all_customers(request.user):
            return list(self.list_filter)
        # An account manager's list is their own customers: no filter by account manager.
        return [f for f in self.list_filter if not (isinstance(f, tuple) and f[0] == "account_manager")]

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not sees_all_customers(request.user):
            # An account manager cannot hand a customer to someone else (and lose sight of it).
            fields.append("account_manager")
            # Nor set the external ID (the import sets it; a new customer gets a generated one):
            # "already exists" for a value would tell them about a customer they cannot see.
            fields.append("external_id")
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Customer | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None and not sees_all_customers(request.user):
            # The external ID is generated when the customer is saved: nothing to show yet.
            return [
                (name, {**options, "fields": [field for field in options["fields"] if field != "external_id"]})
                for name, options in fieldsets
            ]
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Customer | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if not sees_all_customers(request.user):
            form = type(form.__name__, (form,), {"neutral_unique_errors": True})
        return form

    def formfield_for_manytomany(self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "tags":
            kwargs["widget"] = forms.CheckboxSelectMultiple  # a handful of segments, not thousands
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "account_manager":
            kwargs["queryset"] = staff_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        if not change and obj.account_manager_id is None and not sees_all_customers(request.user):
            obj.account_manager = acting_user(request)  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.display(description="deliverable")
    def deliverability(self, obj: Customer) -> str:
        """The flag a returned card set, read-only: changing the address below is what clears it."""
        if obj.address_undeliverable_on is None:
            return "Yes: no card has come back from this address."
        return format_html(
            '<strong class="address-undeliverable" id="address-undeliverable">Undeliverable since {}</strong>: a card '
            "came back from this address. Further cards are held until the address is changed here.",
            obj.address_undeliverable_on.isoformat(),
        )

    @admin.display(description="referrals")
    def referrals(self, obj: Customer) -> str:
        """Who referred this customer and whom they referred, each a link to the referral. Read-only
        text rather than an inline: the referrals move by their own admin's actions."""
        if obj.pk is None:
            return "-"
        referral = Referral.objects.filter(referred=obj).select_related("referrer").first()
        made = list(Referral.objects.filter(referrer=obj).select_related("referred").order_by("created_at", "id"))
        if referral is None and not made:
            return "None."
        parts = []
        if referral is not None:
            parts.append(
                format_html(
                    'Referred by <a href="{}">{}</a> ({}).',
                    reverse("admin:nurture_referral_change", args=[referral.pk]),
                    referral.referrer,
                    referral.get_status_display().lower(),
                )
            )
        if made:
            links = format_html_join(
                ", ",
                '<a href="{}">{}</a> ({})',
                (
                    (reverse("admin:nurture_referral_change", args=[r.pk]), r.referred, r.get_status_display().lower())
                    for r in made
                ),
            )
            parts.append(format_html('<span id="referrals-made">Referred {}.</span>', links))
        return format_html_join(" ", "{}", ((part,) for part in parts))

    @admin.display(description="name", ordering="last_name")
    def name(self, obj: Customer) -> str:
        return obj.full_name

    @admin.display(description="tags")
    def tag_list(self, obj: Customer) -> str:
        return ", ".join(tag.name for tag in obj.tags.all())

    def csv_rows(self, queryset: QuerySet[Customer]) -> tuple[list[str], Iterator[Mapping[str, object]]]:
        fields = customer_export.fields()
        return fields, customer_export.rows(queryset, fields)


@admin.register(Milestone)
class MilestoneAdmin(AuditlogHistoryAdminMixin, ScopedAdmin[Milestone]):
    paginator = CappedCountPaginator
    show_auditlog_history_link = True
    list_display = ["date", "customer", "kind", "note"]
    list_display_links = ["date"]
    list_filter = ["kind", ("date", admin.DateFieldListFilter)]
    list_select_related = ["customer", "kind"]
    # The customer's columns, trigram-indexed on PostgreSQL; the external ID exact (like the customer list).
    search_fields = ["customer__first_name", "customer__last_name", "customer__company", "customer__external_id__exact"]
    # No date_hierarchy: its MIN/MAX and DISTINCT year read every milestone of the list.
    autocomplete_fields = ["customer"]
    show_full_result_count = False
    readonly_fields = ["created_at", "updated_at"]
    fields = ["customer", "kind", "date", "note", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Milestone]:
        return cast(MilestoneQuerySet, super().get_queryset(request)).visible_to(request.user)


@admin.register(MilestoneKind)
class MilestoneKindAdmin(admin.ModelAdmin[MilestoneKind]):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin[Tag]):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
