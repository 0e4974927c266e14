"""Cadences and their rules: what should happen relative to a milestone, or to a date."""

import datetime as dt
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from nurture.lib import calendar
from nurture.models import Customer

# The fields of a rule that decide when its touchpoints fall. Changing any of them bumps
# Rule.version, which cancels the pending touchpoints planned by the old version.
SCHEDULE_FIELDS = (
    "action",
    "offset_amount",
    "offset_unit",
    "repeat_every_months",
    "repeat_count",
    "repeat_until",
    "business_day_policy",
    "card_lead_days",
)

# The fields of a cadence that decide the dates of a date-anchored cadence's touchpoints. Changing
# any of them bumps the version of every rule of the cadence (see Cadence.save()).
ANCHOR_FIELDS = ("anchor", "anchor_kind_id", "anchor_month", "anchor_day", "anchor_date", "anchor_holiday")

# A segment's lists are stored as "gold,silver" and "US,CA": the planner's SQL matches a customer
# against them on PostgreSQL and SQLite alike, and the check constraints below keep them in shape.
TIER_LIST_RE = r"^([-a-z0-9_]+(,[-a-z0-9_]+)*)?$"
COUNTRY_LIST_RE = r"^([A-Z]{2}(,[A-Z]{2})*)?$"


def split_list(text: str) -> list[str]:
    """ "gold, Silver;bronze" -> ["gold", "Silver", "bronze"]: commas, semicolons or spaces between."""
    return [part for part in re.split(r"[\s,;]+", text) if part]


class Cadence(models.Model):
    class Anchor(models.TextChoices):
        MILESTONE = "milestone", "A milestone of the customer"
        ANNUAL = "annual", "Every year on a day and month"
        ONCE = "once", "Once, on a date"
        HOLIDAY = "holiday", "A public holiday of the customer's country"

    name = models.CharField(max_length=100, unique=True, help_text="e.g. Post-sale nurture.")
    description = models.TextField(blank=True, help_text="What this cadence is for, for the people who edit it.")
    anchor = models.CharField(
        "counts from",
        max_length=10,
        choices=Anchor.choices,
        default=Anchor.MILESTONE,
        help_text="A milestone of each customer, or a date of the calendar (a seasonal cadence).",
    )
    anchor_kind = models.ForeignKey(
        "nurture.MilestoneKind",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cadences",
        verbose_name="anchor milestone kind",
        help_text="The rules count from milestones of this kind (cadences counting from a milestone).",
    )
    anchor_month = models.PositiveSmallIntegerField(
        "month", null=True, blank=True, help_text="Every year: the month, 1 to 12 (12 = December)."
    )
    anchor_day = models.PositiveSmallIntegerField(
        "day",
        null=True,
        blank=True,
        help_text="Every year: the day of the month. 29 February falls on 28 February (or 1 March, by the "
        "NURTURE_LEAP_DAY setting) in other years.",
    )
    anchor_date = models.DateField("date", null=True, blank=True, help_text="Once: the date. Nothing after it.")
    anchor_holiday = models.CharField(
        "holiday",
        max_length=200,
        blank=True,
        help_text="A public holiday by its English name, e.g. Thanksgiving, Christmas Day; several names "
        "separated by ';' (Chinese New Year; Lunar New Year). Each customer gets it on the date their own "
        "country keeps it; a country that does not keep it is not reached.",
    )
    tags = models.ManyToManyField(
        "nurture.Tag",
        blank=True,
        related_name="cadences",
        verbose_name="segment tags",
        help_text="Only customers with at least one of these tags; none for every customer.",
    )
    tiers = models.CharField(
        max_length=500,
        blank=True,
        help_text="Only customers of these tiers, e.g. gold, silver; empty for every tier (and none).",
    )
    countries = models.CharField(
        max_length=500,
        blank=True,
        help_text="Only customers in these countries (ISO codes), e.g. US, CA; empty for every country.",
    )
    excluded_customers = models.ManyToManyField(
        "nurture.Customer",
        blank=True,
        related_name="excluded_from_cadences",
        help_text="These customers never get this cadence's touchpoints.",
    )
    active = models.BooleanField(
        default=True, help_text="Inactive cadences plan nothing; pending touchpoints are cancelled."
    )
    no_answer_retry_days = models.PositiveSmallIntegerField(
        "retry after no answer (business days)",
        null=True,
        blank=True,
        help_text="After 'no answer', call again this many business days later; empty for no retry.",
    )
    no_answer_max_retries = models.PositiveSmallIntegerField(
        "retries after no answer", default=2, help_text="At most this many retries of one call."
    )
    at_risk_follow_up_days = models.PositiveSmallIntegerField(
        "follow-up of a customer at risk (business days)",
        null=True,
        blank=True,
        default=5,
        help_text="After 'at risk', a follow-up call this many business days later; empty for none.",
    )
    at_risk_quiet_days = models.PositiveSmallIntegerField(
        "quiet period after 'at risk' (days)",
        default=30,
        help_text="Celebratory cards due within this many days of an 'at risk' call are held back.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(anchor__in=["milestone", "annual", "once", "holiday"]), name="cadence_anchor_valid"
            ),
            # A cadence counts from exactly what its anchor names: the planner never meets a cadence
            # without a milestone kind, a day and month, a date or a holiday to count from.
            models.CheckConstraint(
                condition=models.Q(anchor="milestone", anchor_kind__isnull=False)
                | models.Q(anchor="annual", anchor_month__isnull=False, anchor_day__isnull=False)
                | models.Q(anchor="once", anchor_date__isnull=False)
                | (models.Q(anchor="holiday") & ~models.Q(anchor_holiday="")),
                name="cadence_anchor_complete",
            ),
            # A day and month that some year has (29 February included; 31 April never).
            models.CheckConstraint(
                condition=models.Q(anchor_month__isnull=True)
                | (
                    models.Q(anchor_month__gte=1, anchor_month__lte=12, anchor_day__gte=1)
                    & (
                        models.Q(anchor_month__in=[1, 3, 5, 7, 8, 10, 12], anchor_day__lte=31)
                        | models.Q(anchor_month__in=[4, 6, 9, 11], anchor_day__lte=30)
                        | models.Q(anchor_month=2, anchor_day__lte=29)
                    )
                ),
                name="cadence_anchor_day_of_year",
            ),
            # The segment's lists in the one shape the planner's SQL matches (lower-case slugs,
            # upper-case ISO codes, comma-separated, no spaces).
            models.CheckConstraint(condition=models.Q(tiers__regex=TIER_LIST_RE), name="cadence_tiers_list"),
            models.CheckConstraint(condition=models.Q(countries__regex=COUNTRY_LIST_RE), name="cadence_countries_list"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        moved = self.pk is not None and self.anchor_signature() != self._stored_anchor()
        super().save(*args, **kwargs)
        if moved:
            # New dates for every rule: the pending touchpoints of the old ones are cancelled
            # ("rule edited") and the rules planned again, as when a rule's schedule is edited.
            Rule.objects.filter(cadence=self).update(version=F("version") + 1, updated_at=timezone.now())
        self._loaded_anchor = self.anchor_signature()

    def _stored_anchor(self) -> tuple[object, ...] | None:
        loaded: tuple[object, ...] | None = getattr(self, "_loaded_anchor", None)
        if loaded is None:
            stored = Cadence.objects.filter(pk=self.pk).values_list(*ANCHOR_FIELDS).first()
            loaded = tuple(stored) if stored is not None else None
        return loaded

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> "Cadence":
        instance = super().from_db(db, field_names, values)
        if not instance.get_deferred_fields() & set(ANCHOR_FIELDS):
            instance._loaded_anchor = instance.anchor_signature()
        return instance

    def anchor_signature(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in ANCHOR_FIELDS)

    @property
    def is_date_anchored(self) -> bool:
        return self.anchor != self.Anchor.MILESTONE

    def date_anchor(self) -> calendar.DateAnchor | None:
        """The calendar's date anchor of a seasonal cadence; None for one that counts from milestones."""
        if not self.is_date_anchored:
            return None
        return calendar.DateAnchor(
            kind=self.anchor,  # type: ignore[arg-type]
            month=self.anchor_month,
            day=self.anchor_day,
            on=self.anchor_date,
            holiday=self.anchor_holiday,
        )

    def segment_q(self) -> Q:
        """The customers this cadence plans for, as a filter on customers: active, and in its segment.

        For pages and counts (the preview); the planner's chunk SQL says the same
        (campaigns/services/planning.py, _SEGMENT_SQL), and tests hold the two together.
        """
        condition = Q(status=Customer.Status.ACTIVE, holdout=False)
        if self.tier_list:
            condition &= Q(tier__in=self.tier_list)
        if self.country_list:
            condition &= Q(country__in=self.country_list)
        if self.pk is None:
            return condition
        tag_ids = list(self.tags.values_list("pk", flat=True))
        if tag_ids:
            tagged = Customer.tags.through.objects.filter(customer_id=OuterRef("pk"), tag_id__in=tag_ids)
            condition &= Q(Exists(tagged))
        excluded = Cadence.excluded_customers.through.objects.filter(cadence_id=self.pk, customer_id=OuterRef("pk"))
        return condition & ~Q(Exists(excluded))

    @property
    def tier_list(self) -> list[str]:
        return split_list(self.tiers)

    @property
    def country_list(self) -> list[str]:
        return split_list(self.countries)


class Stage(models.Model):
    """A named part of a cadence's journey (onboarding, adoption, renewal, advocacy), for the journey map.

    Each rule may belong to one stage of its cadence; stages change nothing that is planned.
    """

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=60, help_text="e.g. onboarding, adoption, renewal, advocacy.")
    position = models.PositiveSmallIntegerField(
        default=0, help_text="The stages' order along the journey: lower first."
    )

    class Meta:
        ordering = ["cadence", "position", "id"]
        constraints = [
            # A stage is named once per cadence: the map and the report tell stages apart by name.
            models.UniqueConstraint(fields=["cadence", "name"], name="stage_unique_name_per_cadence"),
        ]

    def __str__(self) -> str:
        return self.name


class Rule(models.Model):
    class Action(models.TextChoices):
        CALL = "call", "Check-in call"
        CARD = "card", "Greeting card"

    class OffsetUnit(models.TextChoices):
        DAYS = "days", "days"
        WEEKS = "weeks", "weeks"
        MONTHS = "months", "months"
        YEARS = "years", "years"
        # Counted in the customer's calendar: weekends and their country's public holidays skipped.
        BUSINESS_DAYS = "business_days", "business days"

    class BusinessDayPolicy(models.TextChoices):
        NONE = "none", "Keep the date"
        NEXT = "next", "Next business day"
        PREVIOUS = "previous", "Previous business day"

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="rules")
    slug = models.SlugField(unique=True, help_text="Stable code used in exports, e.g. welcome-call.")
    name = models.CharField(max_length=100, help_text="Shown to account managers as the reason for a touchpoint.")
    action = models.CharField(
        max_length=10, choices=Action.choices, help_text="A call in the queue, or a card to print."
    )
    offset_amount = models.IntegerField(
        default=0, help_text="How far from the milestone; negative means before it (e.g. -2 weeks before a renewal)."
    )
    offset_unit = models.CharField(
        max_length=20,
        choices=OffsetUnit.choices,
        default=OffsetUnit.DAYS,
        help_text="Unit of the offset; business days skip weekends and the public holidays of the customer's country.",
    )
    repeat_every_months = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Repeat every N months (12 = yearly); empty means once."
    )
    repeat_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Total number of occurrences, the first included; empty means no limit."
    )
    repeat_until = models.DateField(null=True, blank=True, help_text="No occurrence after this date.")
    business_day_policy = models.CharField(
        max_length=10,
        choices=BusinessDayPolicy.choices,
        default=BusinessDayPolicy.NONE,
        help_text="For calls: move a date that falls on a weekend or public holiday.",
    )
    card_lead_days = models.PositiveSmallIntegerField(
        default=3,
        help_text="For cards: mail this many business days before the date, so the card arrives on time.",
    )
    card_design = models.ForeignKey(
        "campaigns.CardDesign",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rules",
        help_text="For cards: the design to print.",
    )
    message_template = models.TextField(
        blank=True, help_text="For cards: the message, with merge fields such as {{ first_name }}."
    )
    stage = models.ForeignKey(
        Stage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rules",
        help_text="The stage of the cadence's journey this step belongs to (the journey map); "
        "a new stage can be chosen once the cadence is saved.",
    )
    celebratory = models.BooleanField(
        default=True,
        help_text="For cards: a celebration (anniversary, congratulations), held back while a customer is at risk.",
    )
    hold_while_at_risk = models.BooleanField(
        "held while at risk",
        default=False,
        help_text="For calls: held back in a customer's quiet period after 'at risk', like celebratory cards "
        "(e.g. asking for a referral).",
    )
    auto_approve = models.BooleanField(default=False, help_text="For cards: approve drafted cards without review.")
    active = models.BooleanField(
        default=True, help_text="Inactive rules plan nothing; pending touchpoints are cancelled."
    )
    # Bumped when a field in SCHEDULE_FIELDS changes (see save()).
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cadence", "offset_unit", "offset_amount", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(action__in=["call", "card"]), name="rule_action_valid"),
            models.CheckConstraint(
                condition=models.Q(offset_unit__in=["days", "weeks", "months", "years", "business_days"]),
                name="rule_offset_unit_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(business_day_policy__in=["none", "next", "previous"]),
                name="rule_business_day_policy_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(repeat_every_months__isnull=True) | models.Q(repeat_every_months__gte=1),
                name="rule_repeat_every_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(repeat_count__isnull=True) | models.Q(repeat_count__gte=1),
                name="rule_repeat_count_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(repeat_every_months__isnull=False)
                | (models.Q(repeat_count__isnull=True) & models.Q(repeat_until__isnull=True)),
                name="rule_repeat_limits_need_repetition",
            ),
            models.CheckConstraint(condition=models.Q(card_lead_days__lte=60), name="rule_card_lead_days_max"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            # The version may have moved since this instance was loaded (its cadence's date moved,
            # Cadence.save()): never write an older one back, or the old dates would stay planned.
            stored_version = Rule.objects.filter(pk=self.pk).values_list("version", flat=True).first()
            if stored_version is not None and stored_version > self.version:
                self.version = stored_version
                if kwargs.get("update_fields") is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
        if self.pk is not None and self.schedule_signature() != self._stored_schedule():
            self.version += 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "version", "updated_at"}
        super().save(*args, **kwargs)
        self._loaded_schedule = self.schedule_signature()

    def clean(self) -> None:
        stage = self.stage if self.stage_id is not None else None
        if stage is not None and self.cadence_id is not None and stage.cadence_id != self.cadence_id:
            raise ValidationError({"stage": f"“{self.stage}” is a stage of another cadence: choose one of this one."})

    def _stored_schedule(self) -> tuple[object, ...] | None:
        loaded: tuple[object, ...] | None = getattr(self, "_loaded_schedule", None)
        if loaded is None:  # loaded with only()/defer(), or built by hand: ask the database
            stored = Rule.objects.filter(pk=self.pk).values_list(*SCHEDULE_FIELDS).first()
            loaded = tuple(stored) if stored is not None else None
        return loaded

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> "Rule":
        instance = super().from_db(db, field_names, values)
        if not instance.get_deferred_fields() & set(SCHEDULE_FIELDS):
            instance._loaded_schedule = instance.schedule_signature()
        return instance

    def schedule_signature(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in SCHEDULE_FIELDS)

    def schedule(self) -> calendar.Schedule:
        return calendar.Schedule(
            offset_amount=self.offset_amount,
            offset_unit=self.offset_unit,  # type: ignore[arg-type]
            repeat_every_months=self.repeat_every_months,
            repeat_count=self.repeat_count,
            repeat_until=self.repeat_until,
        )

    @property
    def is_card(self) -> bool:
        return self.action == self.Action.CARD

    def schedule_in_words(self) -> str:
        """The rule's timing in words: "14 days after", "2 weeks before, every year, 3 times"."""
        amount = self.offset_amount
        if amount == 0:
            words = "on the day"
        else:
            unit = (
                self.get_offset_unit_display() if abs(amount) != 1 else self.get_offset_unit_display().removesuffix("s")
            )
            words = f"{abs(amount)} {unit} {'after' if amount > 0 else 'before'}"
        every = self.repeat_every_months
        if every:
            words += ", every year" if every == 12 else ", every month" if every == 1 else f", every {every} months"
            if self.repeat_count:
                words += f", {self.repeat_count} times"
            if self.repeat_until:
                words += f", until {self.repeat_until.isoformat()}"
        return words

    def due_on(self, occurs_on: dt.date, country: str, region: str) -> dt.date:
        """The due date of an occurrence in a customer's calendar: for a card the mail-by date, lead
        days before; for a call the occurrence moved to a business day by the rule's policy."""
        if self.action == self.Action.CARD:
            return calendar.card_due_on(occurs_on, self.card_lead_days, country, region)
        return calendar.call_due_on(occurs_on, self.business_day_policy, country, region)  # type: ignore[arg-type]
