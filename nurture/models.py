"""The customer side: customers, their tags and their milestones."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Upper

from nurture.lib.address import Address
from nurture.lib.calendar import UnknownRegion, UnknownTimeZone, validate_country_region, validate_time_zone
from nurture.querysets import CustomerQuerySet, JobRunQuerySet, MilestoneQuerySet


def new_external_id() -> str:
    return f"N-{secrets.token_hex(6)}"


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
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} ({self.company})" if self.company else name

    def clean(self) -> None:
        self.country = self.country.upper()
        self.region = self.region.upper()
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


class JobRun(models.Model):
    """One run of a background job, recorded by the Celery signal handlers in nurture/services/job_runs.py."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        RETRYING = "retrying", "Retrying"

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="What the job did, e.g. counts.")
    error = models.TextField(blank=True)

    objects = JobRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # The jobs page: the latest run of each task (JobRunQuerySet.latest_per_task()).
            models.Index(fields=["task_name", "-started_at"], name="jobrun_task_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} at {self.started_at.isoformat()} ({self.status})"


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A private iCalendar URL with a user's upcoming calls. Resetting the token revokes the old URL."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    token = models.CharField(max_length=64, unique=True, default=new_feed_token)
    created_at = models.DateTimeField(auto_now_add=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"calendar feed of {self.user}"


class StaffProfile(models.Model):
    """What nurture needs to know about a member of staff beyond the login."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="team_members",
        help_text="Alerted by e-mail when one of this person's customers is at risk.",
    )
    signature = models.CharField(
        max_length=200,
        blank=True,
        help_text="Signature line on cards, e.g. 'Warm regards, Alice Martin, Account Manager'.",
    )

    def __str__(self) -> str:
        return f"profile of {self.user}"
