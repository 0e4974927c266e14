"""The customer side: customers, their tags and their milestones, with their QuerySets.

Each QuerySet stands beside its model, typed to it; who may see which rows is said once, in
nurture.querysets.CustomerScopedQuerySet.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower, Replace, Trim, Upper
from django.utils import timezone

from nurture.lib.address import ADDRESS_FIELDS, Address
from nurture.lib.calendar import UnknownRegion, UnknownTimeZone, validate_country_region, validate_time_zone
from nurture.lib.contacts import PHONE_PUNCTUATION
from nurture.lib.holdout import draw_holdout
from nurture.querysets import CustomerScopedQuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


# The customer's own fields that the CSV import and the API write as given (tags, the account
# manager and milestones are handled apart; churned_on and the undeliverable flag follow from them).
PLAIN_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "email",
    "phone",
    *ADDRESS_FIELDS,
    "time_zone",
    "status",
    "tier",
)


def new_external_id() -> str:
    return f"N-{secrets.token_hex(6)}"


def email_key() -> models.Func:
    """The customer's e-mail as nurture.lib.contacts.email_key() reduces it, in SQL (an index has it)."""
    return Lower(Trim("email"))


def phone_key() -> models.Func:
    """The customer's phone as nurture.lib.contacts.phone_key() reduces it, in SQL: nested REPLACEs,
    which PostgreSQL and SQLite both have (an index has it)."""
    expression: models.Func = Replace(models.F("phone"), models.Value(PHONE_PUNCTUATION[0]), models.Value(""))
    for character in PHONE_PUNCTUATION[1:]:
        expression = Replace(expression, models.Value(character), models.Value(""))
    return expression


def holdout_for_new_customer() -> bool:
    """The holdout draw for a customer being created (the field's default).

    As the default it runs on every creation path: an admin save, the import's and seed_demo's
    bulk_create, any later API; a customer loaded from the database keeps its stored value.
    """
    return draw_holdout(settings.NURTURE_HOLDOUT_PERCENT)


def validate_time_zone_field(value: str) -> None:
    try:
        validate_time_zone(value)
    except UnknownTimeZone as exc:
        raise ValidationError(str(exc)) from None


class Tag(models.Model):
    slug = models.SlugField(unique=True, help_text="Short code used in imports, e.g. 'vip'.")
    name = models.CharField(max_length=100, help_text="Shown in lists and filters.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MilestoneKind(models.Model):
    slug = models.SlugField(
        unique=True, help_text="Stable code, e.g. became_customer; also the column name in CSV imports."
    )
    name = models.CharField(max_length=100, help_text="e.g. Became a customer.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomerQuerySet(CustomerScopedQuerySet["Customer"]):
    account_manager_lookup = "account_manager_id"

    def managed_by(self, user: AbstractBaseUser) -> Self:
        return self.filter(account_manager_id=user.pk)

    def contactable(self) -> Self:
        return self.filter(status=self.model.Status.ACTIVE)

    def changed_since(self, moment: dt.datetime) -> Self:
        return self.filter(updated_at__gte=moment)

    def undeliverable(self) -> Self:
        """Customers whose address a returned card flagged: their cards wait for a new address."""
        return self.filter(address_undeliverable_on__isnull=False)


class Customer(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        DO_NOT_CONTACT = "do_not_contact", "Do not contact"
        CHURNED = "churned", "Churned"

    external_id = models.CharField(
        "external ID",
        max_length=64,
        unique=True,
        default=new_external_id,
        help_text="The customer's key in your CRM; imports match on it.",
    )
    first_name = models.CharField(max_length=100, help_text="Used in card greetings.")
    last_name = models.CharField(max_length=100)
    company = models.CharField(max_length=200, blank=True, help_text="The customer's company, if any.")
    email = models.EmailField("e-mail", blank=True)
    phone = models.CharField(max_length=50, blank=True, help_text="For check-in calls; include the country code.")
    address_line1 = models.CharField("address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True, help_text="Printed on the address label.")
    region = models.CharField(
        max_length=10,
        blank=True,
        help_text="Subdivision code (ISO 3166-2 without the country), e.g. CA, BY, NSW; selects regional holidays.",
    )
    postal_code = models.CharField("postal code", max_length=20, blank=True)
    country = models.CharField(
        max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code, e.g. US, GB, DE; selects public holidays."
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone_field],
        help_text="IANA time zone, e.g. Europe/Berlin; 'today' for this customer is the date there.",
    )
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_customers",
        help_text="Gets this customer's calls and approves their cards.",
    )
    tags = models.ManyToManyField(
        Tag, blank=True, related_name="customers", help_text="Segments; cadences may be limited to one."
    )
    status = models.CharField(
        max_length=20,
        choices=Status.choices,
        default=Status.ACTIVE,
        help_text="Only active customers are planned; do-not-contact and churned cancel what is pending.",
    )
    tier = models.SlugField(
        max_length=50,
        blank=True,
        db_index=False,  # the partial index customer_tier below serves it
        help_text="Loyalty tier, e.g. gold; cadences may be limited to tiers, like segments. No points.",
    )
    holdout = models.BooleanField(
        default=holdout_for_new_customer,
        editable=False,
        help_text=(
            "In the holdout group: chosen at random when the customer was created and fixed for good; "
            "gets no touchpoints, so that retention can be compared with and without nurturing."
        ),
    )
    address_undeliverable_on = models.DateField(
        "address undeliverable since",
        null=True,
        blank=True,
        help_text="Set when a card came back as undeliverable; further cards wait until the address changes.",
    )
    churned_on = models.DateField(
        "churned on",
        null=True,
        blank=True,
        editable=False,
        help_text="The day the status became churned; the health backtest compares the scores before it.",
    )
    quiet_until = models.DateField(
        null=True,
        blank=True,
        help_text="Celebratory cards due until this date are held back (set when a call finds the customer at risk).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The planner re-plans customers changed since its last run: every write must bump this.
    updated_at = models.DateTimeField(auto_now=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        permissions = [("view_all_customers", "Can see every account manager's customers")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "paused", "do_not_contact", "churned"]),
                name="customer_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(country="") | models.Q(country__regex=r"^[A-Z]{2}$"),
                name="customer_country_iso_alpha2",
            ),
            # A tier is a lower-case slug or nothing: cadences limited to tiers match it exactly (and
            # their SQL needs no wildcard of LIKE in it).
            models.CheckConstraint(condition=models.Q(tier__regex=r"^[-a-z0-9_]*$"), name="customer_tier_slug"),
        ]
        indexes = [
            # The account manager's lists: CustomerQuerySet.managed_by().
            models.Index(fields=["account_manager", "status"], name="customer_manager_status"),
            # The planner's incremental pass: CustomerQuerySet.changed_since().
            models.Index(fields=["updated_at"], name="customer_updated_at"),
            models.Index(Upper("last_name"), name="customer_last_name_upper"),
            # The customer list in its order (Meta.ordering), for everyone and per account manager.
            models.Index(fields=["last_name", "first_name", "id"], name="customer_name_order"),
            models.Index(fields=["account_manager", "last_name", "first_name", "id"], name="customer_manager_name"),
            # The country filter's choices (nurture.admin.filters.countries_in_use).
            models.Index(fields=["country"], name="customer_country"),
            models.Index(fields=["account_manager", "country"], name="customer_manager_country"),
            # Segments by tier (cadences limited to tiers, reports).
            models.Index(fields=["tier"], condition=~models.Q(tier=""), name="customer_tier"),
            # Today's "addresses to fix": an account manager's flagged customers, newest flag first
            # (CustomerQuerySet.undeliverable().visible_to()), and everyone's for those who see all.
            models.Index(
                fields=["account_manager", "address_undeliverable_on"],
                condition=models.Q(address_undeliverable_on__isnull=False),
                name="customer_manager_undeliverable",
            ),
            models.Index(
                fields=["address_undeliverable_on"],
                condition=models.Q(address_undeliverable_on__isnull=False),
                name="customer_undeliverable",
            ),
            # The holdout group, a few percent of customers: the customer list's filter and the
            # retention report's holdout side.
            models.Index(fields=["id"], condition=models.Q(holdout=True), name="customer_holdout"),
            # "Already a customer?": a referral's guard looks the referred customer's e-mail and phone
            # up among the others (nurture.services.referrals), as the reductions of lib/contacts.py.
            models.Index(email_key(), condition=~models.Q(email=""), name="customer_email_key"),
            models.Index(phone_key(), condition=~models.Q(phone=""), name="customer_phone_key"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} ({self.company})" if self.company else name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.sync_churned_on(timezone.localdate())
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "status" in update_fields:
            kwargs["update_fields"] = {*update_fields, "churned_on"}
        # A new address is the answer to a returned card: the flag clears, and the planner (which
        # re-plans a saved customer) releases the cards held for it (campaigns.services.holds).
        if self.forget_undeliverable_if_moved() and kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "address_undeliverable_on", "updated_at"}
        super().save(*args, **kwargs)
        self._loaded_address = self.address

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Customer:
        instance = super().from_db(db, field_names, values)
        if not instance.get_deferred_fields() & set(ADDRESS_FIELDS):
            instance._loaded_address = instance.address
        return instance

    def address_moved(self) -> bool:
        """Whether an address field differs from what is stored (False for a customer not saved yet)."""
        if self.pk is None:
            return False
        loaded: Address | None = getattr(self, "_loaded_address", None)
        if loaded is None:  # loaded with only()/defer(), or built by hand: ask the database
            stored = Customer.objects.filter(pk=self.pk).values(*ADDRESS_FIELDS).first()
            if stored is None:
                return False
            loaded = Address(**stored)
        return loaded != self.address

    def forget_undeliverable_if_moved(self) -> bool:
        """Clear the undeliverable flag when the address changed. Returns whether it was cleared.

        For writers that bypass save() (the import's bulk_update): call it after setting the fields.
        """
        if self.address_undeliverable_on is None or not self.address_moved():
            return False
        self.address_undeliverable_on = None
        return True

    def sync_churned_on(self, today: dt.date) -> None:
        """A churned customer keeps the day they churned; any other status has none."""
        if self.status == self.Status.CHURNED:
            self.churned_on = self.churned_on or today
        else:
            self.churned_on = None

    def clean(self) -> None:
        self.country = self.country.upper()
        self.region = self.region.upper()
        # Cadences match tiers exactly, in lower case (campaigns.models.rules.TIER_LIST_RE).
        self.tier = self.tier.strip().lower()
        try:
            validate_country_region(self.country, self.region)
        except UnknownRegion as exc:
            field = "region" if self.region and "region" in str(exc).lower() else "country"
            raise ValidationError({field: str(exc)}) from None

    @property
    def address(self) -> Address:
        return Address.of(self)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_contactable(self) -> bool:
        return self.status == self.Status.ACTIVE


class MilestoneQuerySet(CustomerScopedQuerySet["Milestone"]):
    """A milestone is seen by whoever sees its customer."""


class Milestone(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="milestones")
    kind = models.ForeignKey(
        MilestoneKind, on_delete=models.PROTECT, related_name="milestones", help_text="What happened."
    )
    date = models.DateField(help_text="When it happened (or will); cadence rules count from it.")
    note = models.CharField(max_length=200, blank=True, help_text="Optional, for people; not printed.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped on every change so the planner and the reconciler can see what moved.
    updated_at = models.DateTimeField(auto_now=True)

    objects = MilestoneQuerySet.as_manager()

    class Meta:
        ordering = ["date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind", "date"], name="milestone_unique_per_day"),
        ]
        indexes = [
            # The planner joins milestones of one kind to their customers: planning.plan_chunk().
            models.Index(fields=["kind", "customer"], name="milestone_kind_customer"),
            # The planner's slot table: distinct milestone dates per kind.
            models.Index(fields=["kind", "date"], name="milestone_kind_date"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.date.isoformat()}"
