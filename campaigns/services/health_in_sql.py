"""A chunk of the nightly health scoring done in the database (PostgreSQL): one statement reads the
chunk's facts, scores every customer with the SQL forms of the measures (campaigns/scoring/in_sql.py),
applies the overrides and bands, and upserts the day's snapshots (the latest of a customer is their
current score); only the customers who moved band come back to Python. The same rows as the Python path
(campaigns/services/health.py), which scores elsewhere (SQLite, a measure kind without an SQL form):
docs/benchmarks-health.md has why (a customer's facts sent to Python, scored there and sent back cost
several times the statement that reads them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from campaigns.models import HealthOverride, HealthSnapshot
from campaigns.scoring.combine import GREEN, RED, YELLOW, Limits, Scorer
from campaigns.scoring.in_sql import has_sql, scored_sql
from campaigns.selectors.health import chunk_planner_settings, facts_sql
from nurture.lib.customer_scope import CustomerScope
from nurture.lib.json_text import compared


@dataclass
class Scored:
    """What scoring a scope wrote, for the band changes that follow: how many customers were scored,
    who moved band (customer, from, to, score) and who was given history only (they have a snapshot
    of a later day)."""

    count: int = 0
    moves: list[tuple[int, str, str, int | None]] = field(default_factory=list)
    history_only: set[int] = field(default_factory=set)


def scores_in_database(scorer: Scorer) -> bool:
    return connection.vendor == "postgresql" and has_sql(scorer)


# A snapshot's columns besides the customer, the day and the details.
COMMON_COLUMNS = ("computed", "score", "band", "overridden", "measures_used", "measures_total")

_STATEMENT = """
WITH scored AS (
    SELECT s.id, s.computed, COALESCE(o.score, s.computed) AS score, o.score IS NOT NULL AS overridden,
        s.measures_used, s.measures_total, s.details,
        COALESCE(COALESCE(latest.date, older.date) > %(as_of)s, false) AS history_only,
        CASE WHEN COALESCE(latest.date, older.date) < %(as_of)s THEN COALESCE(latest.band, older.band) ELSE '' END
            AS prior_band
    FROM ({scored}) s
    LEFT JOIN ({overrides}) o ON o.customer_id = s.id
    -- The customer's latest snapshot of another day: a later day makes this one history only; an
    -- earlier one has the band this day is compared with. Looked up on the latest other day scored
    -- (the night before, for the nightly run); only a customer without one there is looked up on
    -- the days before, latest first. Each a look-up in the unique (date, customer) index for the
    -- customer (LIMIT 1: not a join, which the planner, not knowing a new day's rows yet, turned
    -- into a read of the whole day for every customer).
    LEFT JOIN LATERAL (
        SELECT latest.customer_id, latest.date, latest.band FROM {snapshot_table} latest
        WHERE latest.date = %(latest_day)s::date AND latest.customer_id = s.id LIMIT 1
    ) latest ON true
    LEFT JOIN LATERAL (
        SELECT other.date, other.band FROM {snapshot_table} other
        WHERE latest.customer_id IS NULL AND other.date = ANY(%(older_days)s::date[]) AND other.customer_id = s.id
        ORDER BY other.date DESC LIMIT 1
    ) older ON true
),
banded AS (
    SELECT scored.*, CASE WHEN score IS NULL THEN ''
        WHEN score < %(red_below)s THEN '{red}' WHEN score >= %(green_from)s THEN '{green}' ELSE '{yellow}' END AS band
    FROM scored
),
snapshots AS (
    INSERT INTO {snapshot_table} (customer_id, date, {common}, details)
    SELECT id, %(as_of)s, {common}, details FROM banded
    ON CONFLICT (customer_id, date) DO UPDATE SET {snapshot_updates}
    WHERE ({snapshot_old}) IS DISTINCT FROM ({snapshot_new})
)
SELECT count(*), {moved_arrays}, COALESCE(array_agg(id) FILTER (WHERE history_only), '{{}}')
FROM banded
"""


# A customer moved band: from the band of the last day scored before to another (not for a day
# before their current score: history only).
_MOVED = "history_only IS NOT TRUE AND prior_band <> '' AND band <> '' AND prior_band <> band"


def _named(sql: str, params: Sequence[Any], prefix: str) -> tuple[str, dict[str, Any]]:
    """An SQL text's positional placeholders (%s) as named ones (prefix0, prefix1, ...), for the
    statement that holds it."""
    parts = sql.split("%s")
    if len(parts) != len(params) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders for {len(params)} parameters")
    named = "".join(part + (f"%({prefix}{n})s" if n < len(params) else "") for n, part in enumerate(parts))
    return named, {f"{prefix}{n}": value for n, value in enumerate(params)}


def score_scope_in_database(*, scope: CustomerScope, as_of: dt.date, scorer: Scorer, limits: Limits) -> Scored:
    """Score the customers of a scope on a day and write their snapshots, in one statement (see the
    module). In the caller's transaction; safe to run twice or concurrently (the upsert), and a
    rerun of the day writes no row (IS DISTINCT FROM)."""
    if scope.is_empty:
        return Scored()
    facts, fact_params = _named(*facts_sql(scope, as_of), "f")
    overrides, override_params = _named(
        *HealthOverride.objects.filter(scope.q())
        .in_force(as_of)
        .order_by("customer_id", "-id")
        .distinct("customer_id")
        .values("customer_id", "score")
        .query.sql_with_params(),
        "o",
    )
    snapshot_table = connection.ops.quote_name(HealthSnapshot._meta.db_table)
    stored = (*COMMON_COLUMNS, "details")
    statement = _STATEMENT.format(
        scored=scored_sql(scorer, facts, "%(as_of)s::date"),
        overrides=overrides,
        snapshot_table=snapshot_table,
        common=", ".join(COMMON_COLUMNS),
        red=RED,
        yellow=YELLOW,
        green=GREEN,
        moved_arrays=", ".join(
            f"COALESCE(array_agg({column}) FILTER (WHERE {_MOVED}), '{{}}')"
            for column in ("id", "prior_band", "band", "score")
        ),
        snapshot_updates=", ".join(f"{c} = EXCLUDED.{c}" for c in stored),
        snapshot_old=", ".join(compared(HealthSnapshot, c, f"{snapshot_table}.{c}") for c in stored),
        snapshot_new=", ".join(compared(HealthSnapshot, c, f"EXCLUDED.{c}") for c in stored),
    )
    other_days = [day for day in HealthSnapshot.objects.scored_days() if day != as_of]  # latest first
    params: dict[str, Any] = {
        **fact_params,
        **override_params,
        "as_of": connection.ops.adapt_datefield_value(as_of),
        "latest_day": other_days[0] if other_days else None,
        "older_days": other_days[1:],
        "red_below": limits.red_below,
        "green_from": limits.green_from,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        chunk_planner_settings(cursor, scope)
        cursor.execute(statement, params)
        count, ids, priors, bands, scores, history_only = cursor.fetchone()
    return Scored(
        count=int(count),
        moves=list(zip(ids, priors, bands, scores, strict=True)),
        history_only={int(pk) for pk in history_only},
    )
