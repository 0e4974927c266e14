"""The planner's bookkeeping: runs, their chunks and their computed slots."""

from __future__ import annotations

from typing import Self

from django.db import models

from campaigns.models.rules import Rule
from nurture.lib.customer_scope import CustomerScope


class PlannerRunQuerySet(models.QuerySet["PlannerRun"]):
    def completed_sweeps(self) -> Self:
        """Sweeps that finished: the planner works on from the last one (docs/calendar-rules.md, rule 5)."""
        return self.filter(scope="sweep", finished_at__isnull=False)


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
        null=True,
        blank=True,
        help_text="Customers and milestones changed since then are planned over the whole window.",
    )
    chunk_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    cancelled_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = PlannerRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # PlannerRun.objects.completed_sweeps(): the planner's last sweep and the planner health check
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

    @property
    def customers(self) -> CustomerScope:
        return CustomerScope.id_range(self.first_customer_id, self.last_customer_id)


class PlanSlot(models.Model):
    """A computed (occurs_on, due_on) for every customer who shares a milestone date and a calendar.

    The planner computes the calendar once per distinct (rule, milestone date, country, region)
    in Python and materialises touchpoints with one INSERT ... SELECT per chunk of customers. A
    date-anchored (seasonal) rule has no milestone kind: its slots carry the season (the year of
    the anchor date) and milestone_date holds the anchor date, one slot per (rule, year, country,
    region).
    """

    run = models.ForeignKey(PlannerRun, on_delete=models.CASCADE, related_name="slots")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    rule_version = models.PositiveIntegerField()
    kind = models.ForeignKey("nurture.MilestoneKind", on_delete=models.CASCADE, null=True, related_name="+")
    # The segment (tags, tiers, countries, exclusions) is read from the cadence by the chunk's SQL.
    cadence = models.ForeignKey("campaigns.Cadence", on_delete=models.CASCADE, related_name="+")
    season = models.PositiveSmallIntegerField(null=True)
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

    def __str__(self) -> str:
        return f"rule {self.rule_id} on {self.occurs_on.isoformat()} for {self.milestone_date.isoformat()}"
