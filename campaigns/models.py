"""Cadences, rules, touchpoints and the planner's bookkeeping."""

from typing import Any

from django.conf import settings
from django.db import models

from campaigns import calendar
from campaigns.querysets import TouchpointQuerySet

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


class Cadence(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    anchor_kind = models.ForeignKey(
        "nurture.MilestoneKind",
        on_delete=models.PROTECT,
        related_name="cadences",
        verbose_name="anchor milestone kind",
        help_text="The rules count from milestones of this kind.",
    )
    tag = models.ForeignKey(
        "nurture.Tag",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cadences",
        verbose_name="segment",
        help_text="Only customers with this tag; leave empty for every customer.",
    )
    active = models.BooleanField(default=True, help_text="Inactive cadences plan nothing; pending touchpoints are cancelled.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

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

    class BusinessDayPolicy(models.TextChoices):
        NONE = "none", "Keep the date"
        NEXT = "next", "Next business day"
        PREVIOUS = "previous", "Previous business day"

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="rules")
    slug = models.SlugField(unique=True, help_text="Stable code used in exports, e.g. welcome-call.")
    name = models.CharField(max_length=100)
    action = models.CharField(max_length=10, choices=Action.choices)
    offset_amount = models.IntegerField(
        default=0, help_text="How far from the milestone; negative means before it (e.g. -2 weeks before a renewal)."
    )
    offset_unit = models.CharField(max_length=10, choices=OffsetUnit.choices, default=OffsetUnit.DAYS)
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
    card_design = models.CharField(max_length=100, blank=True, help_text="For cards: the design to print.")
    message_template = models.TextField(
        blank=True, help_text="For cards: the message, with merge fields such as {{ first_name }}."
    )
    auto_approve = models.BooleanField(default=False, help_text="For cards: approve drafted cards without review.")
    active = models.BooleanField(default=True)
    # Bumped when a field in SCHEDULE_FIELDS changes (see save()).
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cadence", "offset_unit", "offset_amount", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(action__in=["call", "card"]), name="rule_action_valid"),
            models.CheckConstraint(
                condition=models.Q(offset_unit__in=["days", "weeks", "months", "years"]), name="rule_offset_unit_valid"
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded_schedule = self.schedule_signature()

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and self.schedule_signature() != self._loaded_schedule:
            self.version += 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "version", "updated_at"}
        super().save(*args, **kwargs)
        self._loaded_schedule = self.schedule_signature()

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


class Touchpoint(models.Model):
    class Kind(models.TextChoices):
        CALL = "call", "Call"
        CARD = "card", "Card"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    class Outcome(models.TextChoices):
        REACHED = "reached", "Reached"
        VOICEMAIL = "voicemail", "Left a voicemail"
        NO_ANSWER = "no_answer", "No answer"

    customer = models.ForeignKey("nurture.Customer", on_delete=models.CASCADE, related_name="touchpoints")
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="touchpoints")
    # SET_NULL: deleting a milestone keeps the history; the planner cancels what was pending.
    milestone = models.ForeignKey(
        "nurture.Milestone", on_delete=models.SET_NULL, null=True, blank=True, related_name="touchpoints"
    )
    milestone_date = models.DateField(help_text="The milestone's date when this was planned.")
    occurrence_index = models.PositiveIntegerField(default=0, help_text="0 for the first occurrence of the rule.")
    occurs_on = models.DateField("occurs on", help_text="The date the rule targets.")
    due_on = models.DateField(
        "due on", help_text="The date it must be done: for calls the business day, for cards the mail-by date."
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="touchpoints",
    )
    late = models.BooleanField(default=False, help_text="Planned after its due date had begun (the planner was behind).")
    rule_version = models.PositiveIntegerField(default=1)
    cancel_reason = models.CharField(max_length=200, blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    notes = models.TextField(blank=True)
    snoozed_from = models.DateField(null=True, blank=True, help_text="The due date before it was snoozed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TouchpointQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            # One live touchpoint per occurrence, whatever runs twice, overlaps or crashes.
            # Cancelled rows are history: an occurrence whose basis comes back is planned anew.
            models.UniqueConstraint(
                fields=["rule", "milestone", "occurs_on"],
                condition=~models.Q(status="cancelled"),
                name="touchpoint_one_live_per_occurrence",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "done", "skipped", "cancelled"]),
                name="touchpoint_status_valid",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=["call", "card"]), name="touchpoint_kind_valid"),
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | ~models.Q(cancel_reason=""),
                name="touchpoint_cancel_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="skipped") | ~models.Q(skip_reason=""),
                name="touchpoint_skip_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="done", kind="call") | ~models.Q(outcome=""),
                name="touchpoint_done_call_has_outcome",
            ),
        ]
        indexes = [
            # The account manager's queue: TouchpointQuerySet.assigned_to().due_as_of().
            models.Index(fields=["assignee", "status", "due_on"], name="touchpoint_queue"),
            # The reconciler walks the pending touchpoints of a range of customers: planning.reconcile().
            models.Index(
                fields=["customer", "due_on"], condition=models.Q(status="pending"), name="touchpoint_pending_customer"
            ),
            # export_touchpoints and the admin's date filters.
            models.Index(fields=["due_on"], name="touchpoint_due_on"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.customer_id} on {self.due_on.isoformat()}"


class PlannerRun(models.Model):
    """One pass of the planner: a sweep over every customer, or a re-plan of a few."""

    class Scope(models.TextChoices):
        SWEEP = "sweep", "Sweep"
        CUSTOMERS = "customers", "Selected customers"

    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.SWEEP)
    as_of = models.DateField(help_text="The planning date ('today' in the project's time zone).")
    planned_at = models.DateTimeField(help_text="The instant the run plans as; decides what is late per time zone.")
    window_start = models.DateField(help_text="First due date of the incremental window.")
    window_end = models.DateField(help_text="Last due date planned (as_of + horizon).")
    changed_since = models.DateTimeField(
        null=True, blank=True, help_text="Customers and milestones changed since then are planned over the whole window."
    )
    chunk_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    cancelled_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # planning.last_completed_sweep()
            models.Index(fields=["scope", "finished_at"], name="plannerrun_scope_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} as of {self.as_of.isoformat()}"


class PlannerChunk(models.Model):
    run = models.ForeignKey(PlannerRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_customer_id = models.BigIntegerField()
    last_customer_id = models.BigIntegerField()
    created_count = models.PositiveIntegerField(default=0)
    cancelled_count = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="plannerchunk_unique_index")]

    def __str__(self) -> str:
        return f"chunk {self.index} of run {self.run_id}"


class PlanSlot(models.Model):
    """A computed (occurs_on, due_on) for every customer who shares a milestone date and a calendar.

    The planner computes the calendar once per distinct (rule, milestone date, country, region)
    in Python and materialises touchpoints with one INSERT ... SELECT per chunk of customers.
    """

    run = models.ForeignKey(PlannerRun, on_delete=models.CASCADE, related_name="slots")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    rule_version = models.PositiveIntegerField()
    kind = models.ForeignKey("nurture.MilestoneKind", on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey("nurture.Tag", on_delete=models.CASCADE, null=True, related_name="+")
    action = models.CharField(max_length=10)
    milestone_date = models.DateField()
    country = models.CharField(max_length=2, blank=True)
    region = models.CharField(max_length=10, blank=True)
    occurrence_index = models.PositiveIntegerField()
    occurs_on = models.DateField()
    due_on = models.DateField()
    # True: every customer with this milestone date gets it (inside the incremental window, or the
    # rule is new or changed). False: only customers or milestones changed since the last sweep.
    for_everyone = models.BooleanField()

    class Meta:
        indexes = [
            # The chunk INSERT ... SELECT joins on these.
            models.Index(fields=["run", "kind", "milestone_date", "country", "region"], name="planslot_join"),
        ]


class DigestDelivery(models.Model):
    """One morning digest per account manager per day, claimed before it is sent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    calls_due = models.PositiveIntegerField(default=0)
    calls_overdue = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "date"], name="digest_once_per_user_per_day")]
