"""Reads of the health score: every customer's facts for a chunk in one SQL statement, and what
the customer page shows (the "why" panel, the trend, the 18-week sparkline).

The facts are aggregates, each from a *fact source*: a derived table grouped by customer that the
statement LEFT JOINs to the customers of the chunk. A new signal (NPS responses, support tickets)
is one more FactSource here and one more measure kind in campaigns/scoring/measures.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from campaigns.models import Activity, Card, HealthOverride, HealthSnapshot, Touchpoint
from campaigns.scoring.combine import MeasureSpec, Score, rescore, score, snapshot_points
from campaigns.scoring.measures import Facts
from campaigns.scoring.roc import auc
from nurture.lib.customer_scope import CustomerScope
from nurture.models import Customer, Milestone, MilestoneKind

# The call outcomes measure looks this far back; cards returned count for a year; support tickets
# for 90 days.
OUTCOME_DAYS = 90
TICKET_DAYS = 90
RETURNED_DAYS = 365
RENEWAL_KIND = "renewal"


def _table(model: Any) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


def _tables() -> dict[str, str]:
    return {
        "customer": _table(Customer),
        "touchpoint": _table(Touchpoint),
        "card": _table(Card),
        "milestone": _table(Milestone),
        "kind": _table(MilestoneKind),
        "activity": _table(Activity),
    }


@dataclass(frozen=True)
class FactSource:
    """A derived table with one row per customer: ``sql`` has the placeholders {customers} (the
    scope's condition on the given column), the table names, and takes ``params(as_of)`` first."""

    name: str
    columns: tuple[str, ...]
    sql: str
    scope_column: str
    params: Callable[[dt.date], list[Any]]
    # Columns that are timestamps: the statement gives their date (in UTC), cheaper to read than a timestamp.
    timestamps: tuple[str, ...] = ()


def _start_of(day: dt.date) -> Any:
    """Midnight UTC of a day, as the database compares it with a timestamp column."""
    return connection.ops.adapt_datetimefield_value(dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC))


FACT_SOURCES: list[FactSource] = [
    FactSource(
        name="touches",
        columns=(
            "last_touch_at",
            "last_call_at",
            "last_at_risk_at",
            "last_reached_at",
            "calls_reached",
            "calls_voicemail",
            "calls_no_answer",
            "calls_at_risk",
            "no_answer_streak",
            "cards_mailed",
            "cards_returned",
        ),
        # One pass over the chunk's done touchpoints (through the index touchpoint_done_customer,
        # which carries what is read here), with their cards mailed or returned: a card is mailed
        # only with its touchpoint done, and done is final. The touches are the ones done before
        # the day (done_at is empty for those done later); only a card touchpoint is looked up in the
        # cards (a call's key is NULL: no look-up at all, two fifths of the look-ups). The streak: the calls
        # without an answer since the last call with one (a window over the customer's touchpoints
        # gives that call's time). Reading the touchpoints once for the touches and the cards halves
        # what a chunk reads (docs/benchmarks-health.md).
        sql="""
            SELECT t.customer_id,
                MAX(t.done_at) AS last_touch_at,
                MAX(CASE WHEN t.kind = 'call' THEN t.done_at END) AS last_call_at,
                MAX(CASE WHEN t.outcome = 'at_risk' THEN t.done_at END) AS last_at_risk_at,
                MAX(CASE WHEN t.outcome = 'reached' THEN t.done_at END) AS last_reached_at,
                SUM(CASE WHEN t.outcome = 'reached' AND t.done_at >= %s THEN 1 ELSE 0 END) AS calls_reached,
                SUM(CASE WHEN t.outcome = 'voicemail' AND t.done_at >= %s THEN 1 ELSE 0 END) AS calls_voicemail,
                SUM(CASE WHEN t.outcome = 'no_answer' AND t.done_at >= %s THEN 1 ELSE 0 END) AS calls_no_answer,
                SUM(CASE WHEN t.outcome = 'at_risk' AND t.done_at >= %s THEN 1 ELSE 0 END) AS calls_at_risk,
                SUM(CASE WHEN t.outcome = 'no_answer' AND t.done_at IS NOT NULL
                    AND (t.answered IS NULL OR t.done_at > t.answered) THEN 1 ELSE 0 END) AS no_answer_streak,
                SUM(CASE WHEN t.card_status IS NOT NULL THEN 1 ELSE 0 END) AS cards_mailed,
                SUM(CASE WHEN t.card_status = 'returned' AND t.returned_at >= %s THEN 1 ELSE 0 END) AS cards_returned
            FROM (
                SELECT d.customer_id, d.kind, d.outcome, d.done_at, d.card_status, d.returned_at,
                    MAX(CASE WHEN d.kind = 'call' AND d.outcome <> 'no_answer' THEN d.done_at END)
                        OVER (PARTITION BY d.customer_id) AS answered
                FROM (
                    SELECT p.customer_id, p.kind, p.outcome, cd.status AS card_status, cd.returned_at,
                        CASE WHEN p.completed_at < %s THEN p.completed_at END AS done_at
                    FROM {touchpoint} p
                    LEFT JOIN {card} cd ON cd.touchpoint_id = CASE WHEN p.kind = 'card' THEN p.id END
                        AND cd.status IN ('mailed', 'returned')
                    WHERE p.status = 'done' AND {customers}
                ) d
            ) t
            GROUP BY t.customer_id
        """,
        scope_column="p.customer_id",
        params=lambda as_of: [
            *[_start_of(as_of - dt.timedelta(days=OUTCOME_DAYS))] * 4,
            _start_of(as_of - dt.timedelta(days=RETURNED_DAYS)),
            _start_of(as_of),
        ],
        timestamps=("last_touch_at", "last_call_at", "last_at_risk_at", "last_reached_at"),
    ),
    FactSource(
        name="renewals",
        columns=("next_renewal_on",),
        sql="""
            SELECT m.customer_id, MIN(m.date) AS next_renewal_on
            FROM {milestone} m JOIN {kind} k ON k.id = m.kind_id
            WHERE k.slug = %s AND m.date >= %s AND {customers}
            GROUP BY m.customer_id
        """,
        scope_column="m.customer_id",
        params=lambda as_of: [RENEWAL_KIND, connection.ops.adapt_datefield_value(as_of)],
    ),
    FactSource(
        name="activities",
        columns=("last_activity_at", "nps_score", "nps_at", "tickets_recent", "tickets_total"),
        # Activities in other channels before the day: the latest of any (a contact, for recency),
        # the latest NPS answer with a score (numbered 1 by a window over the customer's answers)
        # and the support tickets.
        sql="""
            SELECT a.customer_id,
                MAX(a.occurred_at) AS last_activity_at,
                MAX(CASE WHEN a.nps_rank = 1 THEN a.score END) AS nps_score,
                MAX(CASE WHEN a.nps_rank = 1 THEN a.occurred_at END) AS nps_at,
                SUM(CASE WHEN a.channel = 'support_ticket' AND a.occurred_at >= %s THEN 1 ELSE 0 END)
                    AS tickets_recent,
                SUM(CASE WHEN a.channel = 'support_ticket' THEN 1 ELSE 0 END) AS tickets_total
            FROM (
                SELECT d.customer_id, d.channel, d.occurred_at, d.score,
                    CASE WHEN d.channel = 'nps' AND d.score IS NOT NULL THEN ROW_NUMBER() OVER (
                        PARTITION BY d.customer_id, d.channel = 'nps' AND d.score IS NOT NULL
                        ORDER BY d.occurred_at DESC, d.id DESC
                    ) END AS nps_rank
                FROM {activity} d
                WHERE d.occurred_at < %s AND {customers}
            ) a
            GROUP BY a.customer_id
        """,
        scope_column="d.customer_id",
        params=lambda as_of: [_start_of(as_of - dt.timedelta(days=TICKET_DAYS)), _start_of(as_of)],
        timestamps=("last_activity_at", "nps_at"),
    ),
]


def _utc_date(expression: str) -> str:
    if connection.vendor == "postgresql":
        return f"(({expression}) AT TIME ZONE 'UTC')::date"
    return f"date({expression})"  # SQLite keeps timestamps in UTC, as text


_FACTS_SQL = """
SELECT c.id, {customer_since} AS customer_since, c.address_undeliverable_on, {columns}
FROM {customer} c {joins}
WHERE c.status <> 'churned' AND c.created_at < %s AND {customers}
ORDER BY c.id
"""


def facts_sql(scope: CustomerScope, as_of: dt.date) -> tuple[str, list[Any]]:
    """One statement: the customers of the scope (churned ones are no longer scored) with every
    source's columns. The scope's condition stands on every table (see CustomerScope.sql)."""
    tables = _tables()
    joins: list[str] = []
    columns: list[str] = []
    params: list[Any] = []
    for n, source in enumerate(FACT_SOURCES):
        alias = f"f{n}"
        where, where_params = scope.sql([source.scope_column])
        sql = source.sql.format(customers=where, **tables)
        source_params = source.params(as_of)
        joins.append(f"LEFT JOIN ({sql}) {alias} ON {alias}.customer_id = c.id")
        columns += [
            f"{_utc_date(f'{alias}.{column}')} AS {column}" if column in source.timestamps else f"{alias}.{column}"
            for column in source.columns
        ]
        params += [*source_params, *where_params]
    where, where_params = scope.sql(["c.id"])
    statement = _FACTS_SQL.format(
        columns=", ".join(columns),
        joins=" ".join(joins),
        customers=where,
        customer_since=_utc_date("c.created_at"),
        **tables,
    )
    return statement, [*params, _start_of(as_of + dt.timedelta(days=1)), *where_params]


def chunk_planner_settings(cursor: Any, scope: CustomerScope) -> None:
    """The planner's settings for a statement reading a chunk's facts, for its transaction only
    (SET LOCAL; PostgreSQL). A chunk's few thousand customers are read through the indexes on
    customer_id (and their cards by touchpoint): with the default cost of a random page (4, for
    spinning disks) the planner reads the whole card table instead, every chunk. The pages of a
    chunk are mostly in memory; 1.1 is the usual setting for that and for SSDs. And no JIT: the
    server compiled the statement's expressions for every chunk, a third of a second each, more
    than running them."""
    if scope != CustomerScope.everyone():
        cursor.execute("SET LOCAL random_page_cost = 1.1")
    cursor.execute("SET LOCAL jit = off")


def customer_fact_rows(scope: CustomerScope, as_of: dt.date) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every scored customer of the scope on as_of as plain rows, in id order: the column names
    (the customer's id first, then the facts) and the rows: what the scoring in Python reads (the
    scoring in the database runs facts_sql inside its own statement)."""
    if scope.is_empty:
        return [], []
    statement, params = facts_sql(scope, as_of)
    chunk = connection.vendor == "postgresql" and scope != CustomerScope.everyone()
    with transaction.atomic() if chunk else nullcontext(), connection.cursor() as cursor:
        if chunk:
            chunk_planner_settings(cursor, scope)
        cursor.execute(statement, params)
        names = [column[0] for column in cursor.description]
        return names, cursor.fetchall()


def customer_facts(scope: CustomerScope, as_of: dt.date) -> list[tuple[int, Facts]]:
    """Every scored customer of the scope with their facts on as_of, in id order."""
    names, rows = customer_fact_rows(scope, as_of)
    return [(int(row[0]), Facts(as_of=as_of, values=dict(zip(names[1:], row[1:], strict=True)))) for row in rows]


# --- The customer page ---------------------------------------------------------------------------

SPARK_WEEKS = 18
SPARK_WIDTH = 180
SPARK_HEIGHT = 36


@dataclass(frozen=True)
class MeasureMove:
    """A measure whose points differ from those of a day before: what moved the score."""

    name: str
    then: int | None
    now: int | None


@dataclass(frozen=True)
class Trend:
    days: int
    score: int | None
    change: int | None
    # The measures whose points moved since then, in the panel's order.
    moves: tuple[MeasureMove, ...] = ()


@dataclass(frozen=True)
class Sparkline:
    points: str  # the SVG polyline's points
    last_x: float
    last_y: float
    width: int = SPARK_WIDTH
    height: int = SPARK_HEIGHT

    @property
    def red_y(self) -> float:
        return 0.0


@dataclass(frozen=True)
class HealthPanel:
    # The current score: the customer's latest snapshot.
    score: HealthSnapshot | None
    # Its "why" (HealthSnapshot.lines): each measure's name, points, reason and effect.
    lines: list[dict[str, Any]]
    override: HealthOverride | None
    trends: tuple[Trend, ...]
    sparkline: Sparkline | None
    weeks: int = SPARK_WEEKS


def _y(score: int) -> float:
    return round(SPARK_HEIGHT - 2 - (SPARK_HEIGHT - 4) * score / 100, 1)


def sparkline(weekly: Sequence[int | None]) -> Sparkline | None:
    """A polyline of weekly scores, oldest first; weeks without a score are skipped."""
    step = SPARK_WIDTH / max(1, len(weekly) - 1)
    pts = [(round(i * step, 1), _y(value)) for i, value in enumerate(weekly) if value is not None]
    if not pts:
        return None
    return Sparkline(points=" ".join(f"{x},{y}" for x, y in pts), last_x=pts[-1][0], last_y=pts[-1][1])


def health_panel(*, customer: Customer, today: dt.date) -> HealthPanel:
    scored = HealthSnapshot.objects.scored_days()
    score = HealthSnapshot.objects.of_customer(customer, scored).order_by("-date").first()  # latest_of
    override = HealthOverride.objects.filter(customer=customer).in_force(today).select_related("created_by").first()
    start = today - dt.timedelta(weeks=SPARK_WEEKS)
    snapshots = HealthSnapshot.objects.of_customer(customer, [day for day in scored if start < day <= today])
    history: dict[dt.date, int | None] = {}
    points_on: dict[dt.date, Any] = {}
    for day, value, points in snapshots.values_list("date", "score", "details"):
        history[day], points_on[day] = value, points
    current = score.score if score is not None else None
    lines = score.lines() if score is not None else []
    trends = []
    for days in (7, 30):
        day = today - dt.timedelta(days=days)
        then = history.get(day)
        change = current - then if current is not None and then is not None else None
        moves = _measure_moves(lines, points_on[day]) if day in points_on else ()
        trends.append(Trend(days=days, score=then, change=change, moves=moves))
    # A week's value is its last day's score: the weeks end on today, today - 7, ...
    weekly: list[int | None] = []
    for week in range(SPARK_WEEKS - 1, -1, -1):
        end = today - dt.timedelta(weeks=week)
        week_days = [end - dt.timedelta(days=d) for d in range(7)]
        weekly.append(next((history[d] for d in week_days if history.get(d) is not None), None))
    return HealthPanel(score=score, lines=lines, override=override, trends=tuple(trends), sparkline=sparkline(weekly))


def _measure_moves(lines: Sequence[dict[str, Any]], points_then: Any) -> tuple[MeasureMove, ...]:
    """The current score's measures whose points differ from a snapshot's (a measure the snapshot
    lacks had no points then)."""
    then = dict(snapshot_points(points_then or []))
    return tuple(
        MeasureMove(name=line["name"], then=then.get(line["measure"]), now=line["points"])
        for line in lines
        if then.get(line["measure"]) != line["points"]
    )


def health_preview(*, customer_id: int, measures: Sequence[MeasureSpec], as_of: dt.date) -> Score | None:
    """A customer's score under measures not saved yet (the measure page's preview); None when the
    customer is not scored (churned, or added after as_of)."""
    rows = customer_facts(CustomerScope.of([customer_id]), as_of)
    return score(rows[0][1], measures) if rows else None


# --- The backtest ----------------------------------------------------------------------------------

BACKTEST_DAYS = (30, 60, 90)
# Customers who stayed are many: a regular sample of them is enough for the curve.
STAYED_SAMPLE = 20_000


@dataclass(frozen=True)
class BacktestRow:
    days: int
    churned: int
    stayed: int
    churned_mean: float | None
    stayed_mean: float | None
    auc: float | None
    trial_auc: float | None


def _mean(values: Sequence[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


_PAIRS_PER_QUERY = 2000  # (customer, day) pairs looked up per query (SQLite allows some thousands of parameters)


def _details_on(wanted: set[tuple[int, dt.date]]) -> list[Any]:
    """The details of the snapshots of these (customer, day) pairs that exist, a few thousand pairs a
    query: each day with its customers (the unique index leads with the day)."""
    scored = set(HealthSnapshot.objects.scored_days())
    by_day: dict[dt.date, list[int]] = {}
    for pk, day in sorted(wanted):
        if day in scored:
            by_day.setdefault(day, []).append(pk)
    found: list[Any] = []
    condition, pairs = Q(pk__in=[]), 0
    for n, (day, pks) in enumerate(sorted(by_day.items()), 1):
        condition |= Q(date=day, customer_id__in=pks)
        pairs += len(pks)
        if pairs >= _PAIRS_PER_QUERY or n == len(by_day):
            found += HealthSnapshot.objects.filter(condition).values_list("details", flat=True)
            condition, pairs = Q(pk__in=[]), 0
    return found


def health_backtest(
    *, today: dt.date, weights: dict[int, float], trial_weights: dict[int, float], sample: int = STAYED_SAMPLE
) -> list[BacktestRow]:
    """For each horizon: the scores of churned customers that many days before they churned, against
    the scores on the same horizon before today of customers who stayed; both recomputed from the
    stored measure points under the live weights and under the trial weights, with the ROC AUC of each
    (how well a low score picked out who churned)."""
    churned_on: dict[int, dt.date] = {
        pk: day
        for pk, day in Customer.objects.filter(churned_on__isnull=False, churned_on__lte=today).values_list(
            "id", "churned_on"
        )
        if day is not None
    }
    rows: list[BacktestRow] = []
    for days in BACKTEST_DAYS:
        delta = dt.timedelta(days=days)
        churned_points: list[Any] = []
        if churned_on:
            churned_points = _details_on({(pk, day - delta) for pk, day in churned_on.items()})
        stayed_qs = HealthSnapshot.objects.filter(date=today - delta).exclude(customer__status=Customer.Status.CHURNED)
        total = stayed_qs.count()
        stride = max(1, -(-total // sample))
        stayed_points = [
            points
            for n, points in enumerate(
                stayed_qs.order_by("customer_id").values_list("details", flat=True).iterator(5000)
            )
            if n % stride == 0
        ]
        live_churned = [s for s in (rescore(p, weights) for p in churned_points) if s is not None]
        live_stayed = [s for s in (rescore(p, weights) for p in stayed_points) if s is not None]
        trial_churned = [s for s in (rescore(p, trial_weights) for p in churned_points) if s is not None]
        trial_stayed = [s for s in (rescore(p, trial_weights) for p in stayed_points) if s is not None]
        rows.append(
            BacktestRow(
                days=days,
                churned=len(live_churned),
                stayed=len(live_stayed),
                churned_mean=_mean(live_churned),
                stayed_mean=_mean(live_stayed),
                auc=auc(live_churned, live_stayed),
                trial_auc=auc(trial_churned, trial_stayed),
            )
        )
    return rows
