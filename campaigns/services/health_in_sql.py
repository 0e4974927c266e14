"""A chunk of the nightly health scoring done in the database (PostgreSQL): one statement reads the
chunk's facts, scores every customer with the SQL forms of the measures (campaigns/scoring/in_sql.py),
applies the overrides and bands, and upserts the day's snapshots and the current scores; only the
customers who moved band come back to Python. The same rows as the Python path
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

from campaigns.models import HealthOverride, HealthScore, HealthSnapshot
from campaigns.scoring.combine import GREEN, RED, YELLOW, Limits, Scorer
from campaigns.scoring.in_sql import has_sql, scored_sql
from campaigns.selectors.health import chunk_planner_settings, facts_sql
from nurture.lib.customer_scope import CustomerScope


@dataclass
class Scored:
    """What scoring a scope wrote, for the band changes that follow: how many customers were scored,
    who moved band (customer, from, to, score) and who was given history only (their current score
    is of a later day)."""

    count: int = 0
    moves: list[tuple[int, str, str, int | None]] = field(default_factory=list)
    history_only: set[int] = field(default_factory=set)


def scores_in_database(scorer: Scorer) -> bool:
    return connection.vendor == "postgresql" and has_sql(scorer)


# The columns a day's snapshot and the current score have in common.
COMMON_COLUMNS = ("computed", "score", "band", "overridden", "measures_used", "measures_total")

_STATEMENT = """
WITH scored AS (
    SELECT s.id, s.computed, COALESCE(o.score, s.computed) AS score, o.score IS NOT NULL AS overridden,
        s.measures_used, s.measures_total, s.details, s.points,
        cur.as_of > %(as_of)s AS history_only,
        CASE WHEN cur.customer_id IS NULL THEN ''
            WHEN cur.as_of = %(as_of)s THEN cur.prior_band ELSE cur.band END AS prior_band
    FROM ({scored}) s
    LEFT JOIN ({overrides}) o ON o.customer_id = s.id
    LEFT JOIN {score_table} cur ON cur.customer_id = s.id
),
banded AS (
    SELECT scored.*, CASE WHEN score IS NULL THEN ''
        WHEN score < %(red_below)s THEN '{red}' WHEN score >= %(green_from)s THEN '{green}' ELSE '{yellow}' END AS band
    FROM scored
),
snapshots AS (
    INSERT INTO {snapshot_table} (customer_id, date, {common}, points)
    SELECT id, %(as_of)s, {common}, points FROM banded
    ON CONFLICT (customer_id, date) DO UPDATE SET {snapshot_updates}
    WHERE ({snapshot_old}, {snapshot_table}.points) IS DISTINCT FROM ({snapshot_new}, EXCLUDED.points)
),
scores AS (
    INSERT INTO {score_table} (customer_id, as_of, {common}, prior_band, details, updated_at)
    SELECT id, %(as_of)s, {common}, prior_band, details, %(now)s FROM banded WHERE history_only IS NOT TRUE
    ON CONFLICT (customer_id) DO UPDATE SET {score_updates}, prior_band = EXCLUDED.prior_band,
        details = EXCLUDED.details, updated_at = EXCLUDED.updated_at
    WHERE ({score_old}, {score_table}.prior_band, {score_table}.details)
        IS DISTINCT FROM ({score_new}, EXCLUDED.prior_band, EXCLUDED.details)
)
SELECT count(*), {moved_arrays}, COALESCE(array_agg(id) FILTER (WHERE history_only), '{{}}')
FROM banded
"""


# A customer moved band: from a band the day before (or the band of before, for a rerun of the
# day) to another, on their current score.
_MOVED = "history_only IS NOT TRUE AND prior_band <> '' AND band <> '' AND prior_band <> band"


def _named(sql: str, params: Sequence[Any], prefix: str) -> tuple[str, dict[str, Any]]:
    """An SQL text's positional placeholders (%s) as named ones (prefix0, prefix1, ...), for the
    statement that holds it."""
    parts = sql.split("%s")
    if len(parts) != len(params) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders for {len(params)} parameters")
    named = "".join(part + (f"%({prefix}{n})s" if n < len(params) else "") for n, part in enumerate(parts))
    return named, {f"{prefix}{n}": value for n, value in enumerate(params)}


def score_scope_in_database(
    *, scope: CustomerScope, as_of: dt.date, now: dt.datetime, scorer: Scorer, limits: Limits
) -> Scored:
    """Score the customers of a scope on a day and write their snapshots and current scores, in one
    statement (see the module). In the caller's transaction; safe to run twice or concurrently (the
    upserts), and a rerun of the day writes no row (IS DISTINCT FROM)."""
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
    quote = connection.ops.quote_name
    snapshot_table, score_table = quote(HealthSnapshot._meta.db_table), quote(HealthScore._meta.db_table)
    common = ", ".join(COMMON_COLUMNS)
    statement = _STATEMENT.format(
        scored=scored_sql(scorer, facts, "%(as_of)s::date"),
        overrides=overrides,
        score_table=score_table,
        snapshot_table=snapshot_table,
        common=common,
        red=RED,
        yellow=YELLOW,
        green=GREEN,
        moved_arrays=", ".join(
            f"COALESCE(array_agg({column}) FILTER (WHERE {_MOVED}), '{{}}')"
            for column in ("id", "prior_band", "band", "score")
        ),
        snapshot_updates=", ".join(f"{c} = EXCLUDED.{c}" for c in (*COMMON_COLUMNS, "points")),
        snapshot_old=", ".join(f"{snapshot_table}.{c}" for c in COMMON_COLUMNS),
        snapshot_new=", ".join(f"EXCLUDED.{c}" for c in COMMON_COLUMNS),
        score_updates=", ".join(f"{c} = EXCLUDED.{c}" for c in ("as_of", *COMMON_COLUMNS)),
        score_old=", ".join(f"{score_table}.{c}" for c in ("as_of", *COMMON_COLUMNS)),
        score_new=", ".join(f"EXCLUDED.{c}" for c in ("as_of", *COMMON_COLUMNS)),
    )
    params: dict[str, Any] = {
        **fact_params,
        **override_params,
        "as_of": connection.ops.adapt_datefield_value(as_of),
        "now": connection.ops.adapt_datetimefield_value(now),
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
