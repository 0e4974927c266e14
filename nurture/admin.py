"""Admin for the customer side: customers, their milestones, tags and milestone kinds.

An account manager (staff without the "view all customers" permission) sees only the customers
they manage and those customers' milestones and touchpoints: every scoped admin filters
get_queryset through the QuerySets' visible_to(), limits foreign key choices the same way, and
answers 404 for an object outside that scope.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import ForeignKey, ManyToManyField, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, reverse
from django.utils.html import format_html

from campaigns.models import Touchpoint
from nurture.admin_filters import AccountManagerFilter, CountryFilter
from nurture.journey import customer_journey
from nurture.models import Customer, Milestone, MilestoneKind, StaffProfile, Tag
from nurture.paginators import CappedCountPaginator
from nurture.querysets import CustomerQuerySet, MilestoneQuerySet, sees_all_customers
from nurture.views_admin import customer_admin_urls, export_selected_csv

admin.site.site_header = "nurture"
admin.site.site_title = "nurture"
admin.site.index_title = "Customers, cadences and touchpoints"

_M = TypeVar("_M", bound=models.Model)

# The customer page shows this many of the customer's touchpoints; the rest are a link away.
CUSTOMER_PAGE_TOUCHPOINTS = 25


def acting_user(request: HttpRequest) -> AbstractBaseUser:
    """The signed-in user behind an admin request (the admin lets no anonymous user in)."""
    user = request.user
    if not isinstance(user, AbstractBaseUser) or not user.is_authenticated:
        raise PermissionDenied
    return user


def staff_users() -> QuerySet[Any]:
    return get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")


class ScopedAdmin(admin.ModelAdmin[_M]):
    """An admin over rows that belong to an account manager's customers.

    Subclasses filter get_queryset() with visible_to(); a change, delete or history URL of a row
    outside that scope is a 404, like a row that does not exist (no hint that it does).
    """

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> _M | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with ID {object_id!r}.")
        return obj

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Customer:
            kwargs["queryset"] = Customer.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MilestoneInline(admin.TabularInline[Milestone, Customer]):
    model = Milestone
    fields = ["kind", "date", "note"]
    extra = 1
    verbose_name_plural = "milestones"


class TouchpointInline(admin.TabularInline[Touchpoint, Customer]):
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

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CustomerForm(forms.ModelForm[Customer]):
    def clean_country(self) -> str:
        return str(self.cleaned_data.get("country", "")).upper()

    def clean_region(self) -> str:
        return str(self.cleaned_data.get("region", "")).upper()


@admin.register(Customer)
class CustomerAdmin(AuditlogHistoryAdminMixin, ScopedAdmin[Customer]):
    paginator = CappedCountPaginator
    show_auditlog_history_link = True
    form = CustomerForm
    list_display = ["name", "company", "country", "account_manager", "status", "tag_list"]
    list_display_links = ["name"]
    # Filters whose choices come from the indexes, not a DISTINCT over every customer.
    list_filter = ["status", CountryFilter, ("account_manager", AccountManagerFilter), "tags"]
    list_select_related = ["account_manager"]
    search_fields = ["first_name", "last_name", "company", "email", "=external_id"]
    show_full_result_count = False
    list_per_page = 50
    actions = [export_selected_csv]
    # "Import CSV" and "Export all (filtered)" buttons (nurture/views_admin.py).
    change_list_template = "admin/nurture/import/change_list.html"
    readonly_fields = ["journey", "created_at", "updated_at"]
    fieldsets = [
        (
            None,
            {"fields": ["external_id", ("first_name", "last_name"), "company", "status", "account_manager", "tags"]},
        ),
        ("Contact", {"fields": ["email", "phone"]}),
        (
            "Address",
            {
                "fields": [
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
        ("Record", {"fields": ["journey", "created_at", "updated_at"]}),
    ]
    inlines = [MilestoneInline, TouchpointInline]

    def get_urls(self) -> list[URLPattern]:
        return [*customer_admin_urls(self), *super().get_urls()]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        customers = cast(CustomerQuerySet, super().get_queryset(request))
        return customers.visible_to(request.user).prefetch_related("tags")

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        if sees_all_customers(request.user):
            return list(self.list_filter)
        # An account manager's list is their own customers: no filter by account manager.
        return [f for f in self.list_filter if not (isinstance(f, tuple) and f[0] == "account_manager")]

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

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not sees_all_customers(request.user):
            # An account manager cannot hand a customer to someone else (and lose sight of it).
            fields.append("account_manager")
        return fields

    def formfield_for_manytomany(self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "tags":
            kwargs["widget"] = forms.CheckboxSelectMultiple  # a handful of segments, not thousands
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "account_manager":
            kwargs["queryset"] = staff_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_formset_kwargs(
        self, request: HttpRequest, obj: Customer, inline: InlineModelAdmin[Any, Customer], prefix: str
    ) -> dict[str, Any]:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, TouchpointInline) and obj.pk is not None:
            latest = Touchpoint.objects.filter(customer=obj).order_by("-due_on", "-id").values("pk")
            kwargs["queryset"] = kwargs["queryset"].filter(pk__in=latest[:CUSTOMER_PAGE_TOUCHPOINTS])
        return kwargs

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        if not change and obj.account_manager_id is None and not sees_all_customers(request.user):
            obj.account_manager = acting_user(request)  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.display(description="name", ordering="last_name")
    def name(self, obj: Customer) -> str:
        return obj.full_name

    @admin.display(description="tags")
    def tag_list(self, obj: Customer) -> str:
        return ", ".join(tag.name for tag in obj.tags.all())

    @admin.display(description="all touchpoints")
    def journey(self, obj: Customer) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:campaigns_touchpoint_changelist") + f"?customer__id__exact={obj.pk}"
        return format_html('<a href="{}">Every touchpoint of this customer</a>', url)


@admin.register(Milestone)
class MilestoneAdmin(AuditlogHistoryAdminMixin, ScopedAdmin[Milestone]):
    paginator = CappedCountPaginator
    show_auditlog_history_link = True
    list_display = ["date", "customer", "kind", "note"]
    list_display_links = ["date"]
    list_filter = ["kind", ("date", admin.DateFieldListFilter)]
    list_select_related = ["customer", "kind"]
    search_fields = ["customer__first_name", "customer__last_name", "customer__company", "=customer__external_id"]
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


class StaffProfileInline(admin.StackedInline[StaffProfile, Any]):
    model = StaffProfile
    fk_name = "user"
    can_delete = False
    verbose_name = "nurture profile"
    autocomplete_fields = ["lead"]


class NurtureUserAdmin(UserAdmin[Any]):
    inlines = [*UserAdmin.inlines, StaffProfileInline]


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), NurtureUserAdmin)


# Background job runs have their own module.
from nurture import admin_jobs  # noqa: E402, F401
