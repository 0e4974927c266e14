"""The relationship health score (docs/health.md): measures and band limits an administrator
edits, each customer's daily snapshots (the latest is the current score), overrides, band
changes, and the nightly runs that compute them in chunks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models.deletion import Collector
from django.utils import timezone

from campaigns.scoring.combine import BANDS, Limits, MeasureSpec, stored_lines
from campaigns.scoring.measures import MEASURE_KINDS, measure_kind
from nurture.lib.customer_scope import CustomerScope
from nurture.lib.json_text import JSONTextField
from nurture.querysets import CustomerScopedQuerySet

BAND_CHOICES = [(band, band.capitalize()) for band in BANDS]
OVERRIDE_DAYS = 30


def validate_measure_kind(value: str) -> None:
    if value not in MEASURE_KINDS:
        raise ValidationError(f"Unknown measure kind {value!r}; known: {', '.join(sorted(MEASURE_KINDS))}.")


class HealthMeasureQuerySet(models.QuerySet["HealthMeasure"]):
    def active(self) -> Self:
        return self.filter(active=True)

    def specs(self) -> list[MeasureSpec]:
        """The active measures as the pure arithmetic takes them (campaigns.scoring)."""
        return [measure.spec() for measure in self.active().order_by("position", "id")]


class HealthMeasure(models.Model):
    """One measure of the score: a kind from the registry (campaigns/scoring/measures.py), its weight
    and its thresholds."""

    name = models.CharField(max_length=100, unique=True, help_text="Shown in the 'why' panel, e.g. Recency.")
    kind = models.CharField(
        max_length=40,
        validators=[validate_measure_kind],
        help_text="What it measures; new kinds (NPS, support tickets) are registered in code.",
    )
    weight = models.FloatField(default=1.0, help_text="Its weight in the weighted mean; 0 leaves it out.")
    trial_weight = models.FloatField(
        null=True,
        blank=True,
        help_text="A second weighting, only for the backtest: compare it with the live weights before switching.",
    )
    params = models.JSONField(
        "thresholds",
        default=dict,
        blank=True,
        help_text='Parameters of the kind, e.g. {"rhythm_days": 60}; empty keeps the defaults.',
    )
    active = models.BooleanField(default=True, help_text="Inactive measures are not scored.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in the 'why' panel.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = HealthMeasureQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            # A weight is a share of the score: never negative.
            models.CheckConstraint(condition=models.Q(weight__gte=0), name="healthmeasure_weight_not_negative"),
            models.CheckConstraint(
                condition=models.Q(trial_weight__isnull=True) | models.Q(trial_weight__gte=0),
                name="healthmeasure_trial_weight_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind in MEASURE_KINDS:
            if not isinstance(self.params, dict):
                raise ValidationError({"params": "Thresholds must be an object of names and numbers."})
            try:
                measure_kind(self.kind).params(self.params)
            except ValueError as exc:
                raise ValidationError({"params": str(exc)}) from None

    def spec(self, *, trial: bool = False) -> MeasureSpec:
        weight = self.trial_weight if trial and self.trial_weight is not None else self.weight
        return MeasureSpec(id=self.pk or 0, kind=self.kind, name=self.name, weight=weight, params=self.params or {})


class HealthBands(models.Model):
    """The band limits and what entering red does: one row (id 1), edited in the admin."""

    red_below = models.PositiveSmallIntegerField(default=50, help_text="Scores below this are red.")
    green_from = models.PositiveSmallIntegerField(default=75, help_text="Scores from this on are green.")
    quiet_days = models.PositiveSmallIntegerField(
        "quiet period after entering red (days)",
        default=30,
        help_text="Celebratory cards due within this many days of entering red are held back.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "health bands"
        verbose_name_plural = "health bands"
        constraints = [
            # One row of settings.
            models.CheckConstraint(condition=models.Q(id=1), name="healthbands_single_row"),
            # Red below yellow below green, within 0-100.
            models.CheckConstraint(
                condition=models.Q(red_below__lte=models.F("green_from")) & models.Q(green_from__lte=100),
                name="healthbands_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"red below {self.red_below}, green from {self.green_from}"

    def clean(self) -> None:
        if self.red_below is not None and self.green_from is not None:
            try:
                self.limits()
            except ValueError as exc:
                raise ValidationError(str(exc)) from None

    def limits(self) -> Limits:
        return Limits(red_below=self.red_below, green_from=self.green_from)

    @classmethod
    def current(cls) -> HealthBands:
        bands, _ = cls.objects.get_or_create(pk=1)
        return bands


class HealthSnapshotQuerySet(CustomerScopedQuerySet["HealthSnapshot"]):
    """A customer's snapshots are found day by day: the unique index leads with the day (see
    HealthSnapshot), so a look-up by customer names the days to look in (scored_days)."""

    def scored_days(self) -> list[dt.date]:
        """The days that have snapshots, latest first (on PostgreSQL a skip scan of the unique
        index: one look-up per day, not a read of every row)."""
        return scored_days(self.db)

    def of_customer(self, customer: Any, days: Iterable[dt.date] | None = None) -> Self:
        """The customer's snapshots, on the given days (default: every day scored)."""
        return self.filter(customer=customer, date__in=list(self.scored_days() if days is None else days))

    def latest_of(self, customer: Any) -> HealthSnapshot | None:
        """The customer's current score: the snapshot of the latest day scored."""
        return self.of_customer(customer).order_by("-date").first()


# A loose index scan: the latest day, then the latest day before it, ... each one look-up in the
# unique (date, customer) index.
_SCORED_DAYS_SQL = """
WITH RECURSIVE days(date) AS (
    (SELECT date FROM {table} ORDER BY date DESC LIMIT 1)
    UNION ALL
    SELECT (SELECT s.date FROM {table} s WHERE s.date < days.date ORDER BY s.date DESC LIMIT 1)
    FROM days WHERE days.date IS NOT NULL
)
SELECT date FROM days WHERE date IS NOT NULL
"""


def scored_days(using: str = "default") -> list[dt.date]:
    """The days that have health snapshots, latest first."""
    connection = connections[using]
    table = connection.ops.quote_name(HealthSnapshot._meta.db_table)
    if connection.vendor == "postgresql":
        sql = _SCORED_DAYS_SQL.format(table=table)
    else:
        sql = f"SELECT DISTINCT date FROM {table} ORDER BY date DESC"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        days = [row[0] for row in cursor.fetchall()]
    return [day if isinstance(day, dt.date) else dt.date.fromisoformat(day) for day in days]


def cascade_by_day(collector: Collector, field: models.Field[Any, Any], sub_objs: Any, using: str) -> None:
    """CASCADE for the snapshots of deleted customers, looked up day by day: the unique index leads
    with the day, and a look-up by customer alone would read the whole table."""
    days = scored_days(using)
    if days:  # else there is no snapshot to delete
        models.CASCADE(collector, field, sub_objs.filter(date__in=days), using)


# The collector passes the snapshots of the deleted customers unread (else it would look them up by
# customer alone to see whether there are any).
setattr(cascade_by_day, "lazy_sub_objs", True)  # noqa: B010


class HealthSnapshot(models.Model):
    """A customer's score on one day, with each measure's points and reason: the latest day's is
    the current score (the customer page's "why"), the others the history (trend, sparkline), the
    backtest and the reports. One row per customer and night, and the only row the nightly scoring
    writes per customer (docs/health.md)."""

    # No index of its own: found day by day through the unique (date, customer) below. No foreign
    # key constraint in the database: checking it locked each customer's row for every snapshot
    # written, about a fifth of the nightly run (docs/benchmarks-health.md). Deleting a customer
    # deletes their snapshots all the same (cascade_by_day).
    customer = models.ForeignKey(
        "nurture.Customer",
        on_delete=cascade_by_day,
        related_name="health_snapshots",
        db_index=False,
        db_constraint=False,
    )
    date = models.DateField()
    computed = models.PositiveSmallIntegerField(null=True, help_text="The weighted mean of the measures.")
    score = models.PositiveSmallIntegerField(null=True, help_text="The score in force: the override's, if any.")
    band = models.CharField(max_length=10, choices=BAND_CHOICES, blank=True)
    overridden = models.BooleanField(default=False)
    measures_used = models.PositiveSmallIntegerField(default=0)
    measures_total = models.PositiveSmallIntegerField(default=0)
    # Each measure's line as [measure id, weight, points, reason] (campaigns.scoring.combine.Line.stored):
    # the names come from the measure rows and the effects from the weights when shown (lines()).
    # Days scored before campaigns 0033 hold [measure id, points] pairs (read by
    # campaigns.scoring.combine.snapshot_points, as the backtest and the trend do).
    # PostgreSQL's json (the text as written), not jsonb: written for every customer every night and
    # read whole, it costs no conversion to write and takes 40% less room (nurture/lib/json_text.py).
    details = JSONTextField(default=list, help_text="Each measure's weight, points and reason.")

    objects = HealthSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["customer", "date"]
        constraints = [
            # One snapshot per customer and day: rerunning a day overwrites it with the same values.
            # The day first: a night's snapshots go at the end of the index, in the customers'
            # order, whatever the history; with the customer first every night wrote into every
            # customer's part of the index, a cost that grew with the history (docs/health.md).
            models.UniqueConstraint(fields=["date", "customer"], name="healthsnapshot_one_per_day"),
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__lte=100), name="healthsnapshot_score_range"
            ),
        ]
        # No other index: the unique (date, customer) gives the backtest and the reports every
        # customer's score on a day (an index on the day and band as well cost the nightly run a
        # write per snapshot, and the planner chose it for a look-up by customer on a day it had no
        # statistics of yet: campaigns 0034).

    def __str__(self) -> str:
        return f"{self.score} ({self.band}) on {self.date.isoformat()}"

    def lines(self) -> list[dict[str, Any]]:
        """The "why": each measure's name, weight, points, reason and effect, in the panel's order."""
        names = dict(HealthMeasure.objects.values_list("id", "name"))
        return [line.as_json() for line in stored_lines(self.details, names)]


def default_expiry() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=OVERRIDE_DAYS)


class HealthOverrideQuerySet(CustomerScopedQuerySet["HealthOverride"]):
    def in_force(self, day: dt.date) -> Self:
        return self.filter(ended_at__isnull=True, starts_on__lte=day, expires_on__gte=day)


class HealthOverride(models.Model):
    """A lead's manual score, with a reason and an expiry: it survives recomputation until then."""

    customer = models.ForeignKey("nurture.Customer", on_delete=models.CASCADE, related_name="health_overrides")
    score = models.PositiveSmallIntegerField(help_text="The score in force instead of the computed one (0-100).")
    reason = models.CharField(max_length=300, help_text="Why: shown on the customer page.")
    starts_on = models.DateField(default=timezone.localdate)
    expires_on = models.DateField(default=default_expiry, help_text="The last day it is in force.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Lifted early, or replaced by a newer one.")
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = HealthOverrideQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("override_health", "Can override a customer's health score")]
        constraints = [
            # At most one override not ended per customer: a new one ends the one before.
            models.UniqueConstraint(
                fields=["customer"], condition=models.Q(ended_at__isnull=True), name="healthoverride_one_open"
            ),
            models.CheckConstraint(condition=models.Q(score__lte=100), name="healthoverride_score_range"),
            # An override says why.
            models.CheckConstraint(condition=~models.Q(reason=""), name="healthoverride_has_reason"),
            models.CheckConstraint(
                condition=models.Q(expires_on__gte=models.F("starts_on")), name="healthoverride_expires_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.score} until {self.expires_on.isoformat()}"


class HealthBandChangeQuerySet(CustomerScopedQuerySet["HealthBandChange"]):
    pass


class HealthBandChange(models.Model):
    """A customer moved band on a day: the event ``customer.health_changed`` (webhooks) and the
    reports' movement between bands. Entering red is reacted to once, when the row is claimed."""

    customer = models.ForeignKey("nurture.Customer", on_delete=models.CASCADE, related_name="health_changes")
    date = models.DateField()
    from_band = models.CharField(max_length=10, choices=BAND_CHOICES)
    to_band = models.CharField(max_length=10, choices=BAND_CHOICES)
    score = models.PositiveSmallIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    reacted_at = models.DateTimeField(
        null=True, blank=True, help_text="When entering red was reacted to (quiet period, lead alerted)."
    )
    alert_sent_at = models.DateTimeField(null=True, blank=True, help_text="When the lead was alerted (sent once).")

    objects = HealthBandChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [
            # One change per customer and day: a rerun or a second worker finds it there.
            models.UniqueConstraint(fields=["customer", "date"], name="healthbandchange_one_per_day"),
            models.CheckConstraint(condition=~models.Q(from_band=models.F("to_band")), name="healthbandchange_moves"),
        ]
        indexes = [
            # The reports: movement between bands over a period.
            models.Index(fields=["date"], name="healthbandchange_date"),
            # Entries into red reacted to whose lead is not alerted yet, by when: their recovery
            # (services.alerts.alerts_send_overdue, every five minutes). A handful of rows.
            models.Index(
                fields=["reacted_at"],
                condition=models.Q(reacted_at__isnull=False, alert_sent_at__isnull=True),
                name="healthbandchange_alert_unsent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_band} -> {self.to_band} on {self.date.isoformat()}"


class HealthRun(models.Model):
    """One scoring of every customer for a day, cut into chunks that any worker may take."""

    as_of = models.DateField()
    chunk_count = models.PositiveIntegerField(default=0)
    scored_count = models.PositiveIntegerField(default=0)
    moved_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"health run as of {self.as_of.isoformat()}"


class HealthChunk(models.Model):
    run = models.ForeignKey(HealthRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_customer_id = models.BigIntegerField()
    last_customer_id = models.BigIntegerField()
    scored_count = models.PositiveIntegerField(default=0)
    moved_count = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        # One row per chunk of a run: the task that takes it finds it by (run, index).
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="healthchunk_unique_index")]

    def __str__(self) -> str:
        return f"chunk {self.index} of health run {self.run_id}"

    @property
    def customers(self) -> CustomerScope:
        return CustomerScope.id_range(self.first_customer_id, self.last_customer_id)
