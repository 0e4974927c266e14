"""The health score's writes (docs/health.md): score the customers of a day in chunks, overrides.

A run for a day has the planner's shape (campaigns/services/planning.py):

1. ``health_run_start`` cuts the customers into chunks of ids; any worker may take any chunk.
2. ``health_chunk_run`` scores the chunk's customers and writes, with one upsert per table, the
   day's snapshot per customer (unique per customer and day; the latest is the current score) and
   the band changes (unique per customer and day). On PostgreSQL one statement reads the facts, scores and
   upserts (campaigns/services/health_in_sql.py); elsewhere the facts are read into Python
   (campaigns.selectors.health.customer_fact_rows) and scored with the pure arithmetic of
   campaigns.scoring. Doing a chunk twice, or two runs of a day at once, writes the same rows.
3. Customers entering red are reacted to like an "at risk" call, once: the band change row is
   claimed (reacted_at) in the chunk's transaction, the celebratory cards are held for the quiet
   period and the lead is alerted after the commit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Max, Min, OuterRef, Subquery, Sum
from django.utils import timezone

from campaigns import signals
from campaigns.models import (
    DailyFigure,
    HealthBandChange,
    HealthBands,
    HealthChunk,
    HealthOverride,
    HealthRun,
    HealthSnapshot,
    ReportDay,
)
from campaigns.models.health import HealthMeasure
from campaigns.scoring.combine import RED, Limits, Line, Scorer, effective
from campaigns.selectors.health import customer_fact_rows
from campaigns.selectors.reports import health as health_report
from campaigns.services.health_in_sql import (
    COMMON_COLUMNS,
    Scored,
    score_scope_in_database,
    scores_in_database,
)
from campaigns.services.reactions import hold_celebrations
from campaigns.services.webhooks import webhook_events_record
from nurture.lib.customer_scope import CustomerScope
from nurture.lib.gcpause import gc_paused
from nurture.lib.json_text import compared
from nurture.models import Customer

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

log = logging.getLogger(__name__)

CHUNK_SIZE = 10_000


class HealthError(ValueError):
    """Bad input to an override: the message names what is wrong."""


@dataclass
class HealthResult:
    run_id: int
    as_of: dt.date
    chunks: int = 0
    scored: int = 0
    moved: int = 0


def health_run_start(*, as_of: dt.date, chunk_size: int = CHUNK_SIZE) -> HealthRun:
    bounds = Customer.objects.aggregate(first=Min("id"), last=Max("id"))
    with transaction.atomic():
        run = HealthRun.objects.create(as_of=as_of)
        chunks: list[HealthChunk] = []
        if bounds["first"] is not None:
            first, last = int(bounds["first"]), int(bounds["last"])
            chunks = [
                HealthChunk(run=run, index=i, first_customer_id=low, last_customer_id=min(low + chunk_size - 1, last))
                for i, low in enumerate(range(first, last + 1, chunk_size))
            ]
        HealthChunk.objects.bulk_create(chunks)
        run.chunk_count = len(chunks)
        run.save(update_fields=["chunk_count"])
    return run


def health_chunk_run(*, run_id: int, index: int) -> tuple[int, int]:
    """Score one chunk of a run. Safe to run twice or concurrently. Returns (scored, moved band)."""
    now = timezone.now()
    with transaction.atomic():
        chunk = HealthChunk.objects.select_related("run").get(run_id=run_id, index=index)
        scored, moved = health_scope_score(scope=chunk.customers, as_of=chunk.run.as_of, now=now)
        # Only the first completion of a chunk counts its numbers.
        HealthChunk.objects.filter(pk=chunk.pk, finished_at__isnull=True).update(
            finished_at=now, scored_count=scored, moved_count=moved
        )
    health_run_finish_if_complete(run_id)
    return scored, moved


def health_run_finish_if_complete(run_id: int) -> bool:
    if HealthChunk.objects.filter(run_id=run_id, finished_at__isnull=True).exists():
        return False
    totals = HealthChunk.objects.filter(run_id=run_id).aggregate(scored=Sum("scored_count"), moved=Sum("moved_count"))
    with transaction.atomic():
        finished = HealthRun.objects.filter(pk=run_id, finished_at__isnull=True).update(
            finished_at=timezone.now(), scored_count=totals["scored"] or 0, moved_count=totals["moved"] or 0
        )
        if finished:  # only the one call that finished the run
            _store_band_totals(HealthRun.objects.values_list("as_of", flat=True).get(pk=run_id))
    return bool(finished)


def _store_band_totals(day: dt.date) -> None:
    """The health report's customers per band and manager of the day, and the day's band changes,
    stored once the day is scored so that the report reads a few rows instead of counting every
    customer's snapshot and change; a day scored again replaces them."""
    for report, figures in (
        (health_report.NAME, health_report.band_figures(day)),
        (health_report.MOVES, health_report.move_figures(day)),
    ):
        DailyFigure.objects.filter(report=report, day=day).delete()
        ReportDay.objects.get_or_create(report=report, day=day)
        DailyFigure.objects.bulk_create(
            [
                DailyFigure(report=report, day=day, manager_id=f.manager_id, kind=f.kind, key=f.key, value=f.value)
                for f in figures
            ],
            batch_size=2000,
        )


def health_score_day(
    *, as_of: dt.date, chunk_size: int = CHUNK_SIZE, progress: Callable[[int, int], None] | None = None
) -> HealthResult:
    """A whole run in this process (the score_health command); Beat fans the chunks out instead."""
    run = health_run_start(as_of=as_of, chunk_size=chunk_size)
    result = HealthResult(run_id=run.pk, as_of=as_of, chunks=run.chunk_count)
    for index in range(run.chunk_count):
        scored, moved = health_chunk_run(run_id=run.pk, index=index)
        result.scored += scored
        result.moved += moved
        if progress is not None:
            progress(index + 1, run.chunk_count)
    health_run_finish_if_complete(run.pk)
    return result


# Rows per INSERT statement of an upsert: well within SQLite's limit on parameters.
_UPSERT_ROWS = 1000


def _upsert(model: Any, columns: list[str], rows: list[tuple[Any, ...]], *, conflict: list[str]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE of plain rows (JSON already as text), leaving alone the rows
    whose values are already there (a rerun of the day writes nothing; a row not written is no dead
    row, no index entry, no WAL). On PostgreSQL the rows are copied (COPY) into a temporary table
    and upserted from it with one statement; elsewhere a statement per _UPSERT_ROWS rows. Not
    bulk_create: on PostgreSQL it sends arrays of JSON whose quoting, and the parsing of statements
    with thousands of parameters, took most of a chunk's time (docs/benchmarks-health.md)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    updated = [c for c in columns if c not in conflict]
    # NULL-safe row comparison: IS DISTINCT FROM on PostgreSQL, IS NOT on SQLite.
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    parts = {
        "table": table,
        "columns": names,
        "conflict": ", ".join(quote(c) for c in conflict),
        "updates": ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in columns if c not in conflict),
        "changed": f"({', '.join(compared(model, c, f'{table}.{quote(c)}') for c in updated)}) {distinct} "
        f"({', '.join(compared(model, c, f'EXCLUDED.{quote(c)}') for c in updated)})",
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            incoming = quote(f"incoming_{model._meta.db_table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {incoming} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA"  # noqa: S608
            )
            with cursor.copy(f"COPY {incoming} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(_UPSERT_SQL.format(rows=f"SELECT {names} FROM {incoming}", **parts))  # noqa: S608
            cursor.execute(f"DROP TABLE {incoming}")
            return
        row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), _UPSERT_ROWS):
            batch = rows[start : start + _UPSERT_ROWS]
            cursor.execute(
                _UPSERT_SQL.format(rows="VALUES " + ", ".join([row_sql] * len(batch)), **parts),
                [value for row in batch for value in row],
            )


_UPSERT_SQL = "INSERT INTO {table} ({columns}) {rows} ON CONFLICT ({conflict}) DO UPDATE SET {updates} WHERE {changed}"


def _encoded(line: Line) -> str:
    """A measure's line as the snapshot's details hold it (``Line.stored``: measure, weight, points,
    reason), in JSON text: character for character what PostgreSQL's json_build_array writes for the
    same line in the scoring in the database (campaigns.scoring.in_sql), so that the two paths write
    the same text and a day scored again either way is no change; that is json.dumps with
    ensure_ascii=False, but for numbers never written with an exponent. Written out by hand
    (tests/campaigns/test_health_encoding.py), in a fifth of json.dumps's time; a chunk encodes
    about one line per customer."""
    points = "null" if line.points is None else str(int(line.points))
    return f"[{int(line.measure_id)}, {_json_number(line.weight)}, {points}, {encode_basestring(line.reason)}]"


def _json_number(value: float) -> str:
    """A weight as PostgreSQL writes a numeric: an int as it is, a float with the digits of its repr
    and no exponent (1e-09 is 0.000000001)."""
    if isinstance(value, int):
        return json.dumps(value)
    return format(Decimal(repr(float(value) + 0.0)), "f")


def _joined(lines: tuple[str, ...]) -> str:
    """The lines' JSON text as the list the snapshot holds (json_build_array's separators)."""
    return "[" + ", ".join(lines) + "]"


_BATCH = 2000  # customers per look-up query (SQLite allows some thousands of parameters)


def _neighbours(pks: list[int], as_of: dt.date) -> tuple[dict[int, str], set[int]]:
    """Around a day, for these customers: the band of each one's last snapshot before it (what a
    band change compares with) and who has a snapshot of a later day (scored that day for the
    history only). As the scoring in the database finds them: on the latest other day scored, then,
    for a customer without one there, on the days before, latest first (the unique index leads with
    the day)."""
    others = [day for day in HealthSnapshot.objects.scored_days() if day != as_of]
    found: dict[int, tuple[dt.date, str]] = {}
    for start in range(0, len(pks) if others else 0, _BATCH):
        batch = pks[start : start + _BATCH]
        rows = HealthSnapshot.objects.filter(date=others[0], customer_id__in=batch).values_list("customer_id", "band")
        found.update((pk, (others[0], band)) for pk, band in rows)
        rest = [pk for pk in batch if pk not in found]
        if rest and others[1:]:
            older = HealthSnapshot.objects.filter(date__in=others[1:], customer_id=OuterRef("pk")).order_by("-date")
            looked_up = (
                Customer.objects.filter(pk__in=rest)
                .annotate(day=Subquery(older.values("date")[:1]), band=Subquery(older.values("band")[:1]))
                .filter(day__isnull=False)
                .values_list("pk", "day", "band")
            )
            found.update((pk, (day, band)) for pk, day, band in looked_up)
    prior = {pk: band for pk, (day, band) in found.items() if day < as_of}
    return prior, {pk for pk, (day, _) in found.items() if day > as_of}


def health_scope_score(*, scope: CustomerScope, as_of: dt.date, now: dt.datetime) -> tuple[int, int]:
    """Score the customers of a scope on a day; returns (scored, moved band). In the caller's transaction.

    In the database (campaigns/services/health_in_sql.py) on PostgreSQL when every measure kind has
    an SQL form; in Python otherwise. The two write the same rows."""
    scorer = Scorer.of(HealthMeasure.objects.specs())
    bands = HealthBands.current()
    if scores_in_database(scorer):
        scored = score_scope_in_database(scope=scope, as_of=as_of, scorer=scorer, limits=bands.limits())
    else:
        scored = _score_scope_in_python(scope=scope, as_of=as_of, scorer=scorer, limits=bands.limits())
    if not scored.count:
        return 0, 0
    changes = [
        HealthBandChange(customer_id=pk, date=as_of, from_band=prior, to_band=band, score=value)
        for pk, prior, band, value in scored.moves
    ]
    # A rerun of the day that no longer moves a customer takes the change back (not one reacted to,
    # and not for a customer only given history here).
    moved = {change.customer_id for change in changes}
    recorded = set(HealthBandChange.objects.filter(scope.q(), date=as_of).values_list("customer_id", flat=True))
    taken_back = sorted(recorded - moved - scored.history_only)
    if taken_back:
        HealthBandChange.objects.filter(date=as_of, customer_id__in=taken_back, reacted_at__isnull=True).delete()
    HealthBandChange.objects.bulk_create(
        changes,
        update_conflicts=True,
        unique_fields=["customer", "date"],
        update_fields=["from_band", "to_band", "score"],
    )
    _record_health_changed(customer_ids=sorted(moved), as_of=as_of)
    _react_to_red(scope=scope, as_of=as_of, now=now, quiet_days=bands.quiet_days)
    return scored.count, len(changes)


def _score_scope_in_python(*, scope: CustomerScope, as_of: dt.date, scorer: Scorer, limits: Limits) -> Scored:
    """The customers' facts read into Python, scored there (campaigns.scoring.combine.ChunkScorer)
    and their snapshots upserted."""
    columns, rows = customer_fact_rows(scope, as_of)
    if not rows:
        return Scored()
    chunk = scorer.for_rows(as_of=as_of, columns=columns, encode=_encoded, join=_joined)
    overrides = dict(
        HealthOverride.objects.filter(scope.q()).in_force(as_of).order_by("id").values_list("customer_id", "score")
    )
    prior_bands, later = _neighbours([int(row[0]) for row in rows], as_of)
    snapshots: list[tuple[Any, ...]] = []
    result = Scored(count=len(rows))
    with gc_paused():  # the loop's tuples and strings: see nurture.lib.gcpause
        for row in rows:
            pk = row[0]
            score, details = chunk(row)
            override = overrides.get(pk)
            value = effective(score.score, override)
            band = limits.band(value) if value is not None else ""
            common = (score.score, value, band, override is not None, score.used, score.total)
            snapshots.append((pk, as_of, *common, details))
            if pk in later:
                result.history_only.add(pk)  # a day before the current score: history only
                continue
            prior = prior_bands.get(pk, "")
            if prior and band and prior != band:
                result.moves.append((pk, prior, band, value))
    _upsert(
        HealthSnapshot, ["customer_id", "date", *COMMON_COLUMNS, "details"], snapshots, conflict=["customer_id", "date"]
    )
    return result


def _record_health_changed(*, customer_ids: list[int], as_of: dt.date) -> None:
    """customer.health_changed for each band change of the day, in this transaction (the webhook
    outbox): once per band-change row, so a rerun of the day records nothing twice."""
    if not customer_ids:
        return
    rows = HealthBandChange.objects.filter(date=as_of, customer_id__in=customer_ids).values_list(
        "pk", "customer__external_id", "from_band", "to_band", "score"
    )
    webhook_events_record(
        type="customer.health_changed",
        events=[
            (
                pk,
                {
                    "customer": external_id,
                    "date": as_of.isoformat(),
                    "from_band": from_band,
                    "to_band": to_band,
                    "score": score,
                },
            )
            for pk, external_id, from_band, to_band, score in rows
        ],
    )


def _react_to_red(*, scope: CustomerScope, as_of: dt.date, now: dt.datetime, quiet_days: int) -> int:
    """Customers who entered red today, not yet reacted to: the claim is the conditional UPDATE of
    reacted_at on rows locked by this transaction, so a concurrent run reacts to none of them twice."""
    claimable = HealthBandChange.objects.select_for_update().filter(
        scope.q(), date=as_of, to_band=RED, reacted_at__isnull=True
    )
    rows = list(claimable.values_list("id", "customer_id"))
    if not rows:
        return 0
    ids = [pk for pk, _ in rows]
    HealthBandChange.objects.filter(pk__in=ids, reacted_at__isnull=True).update(reacted_at=now)
    hold_celebrations(
        customer_ids=[customer_id for _, customer_id in rows],
        quiet_until=as_of + dt.timedelta(days=quiet_days),
        now=now,
    )
    signals.customer_entered_red.send(sender=HealthBandChange, band_change_ids=ids)
    return len(ids)


# --- Overrides ---------------------------------------------------------------------------------


def _rescore_one(customer_id: int, day: dt.date, now: dt.datetime) -> None:
    """Score one customer again (an override made or ended); a day whose totals are stored gets
    them again, so the health report stays true to the snapshots."""
    health_scope_score(scope=CustomerScope.of([customer_id]), as_of=day, now=now)
    if ReportDay.objects.of(health_report.NAME).filter(day=day).exists():
        _store_band_totals(day)


def _pk(user: AbstractBaseUser | None) -> Any:
    return user.pk if user is not None else None


def health_override_create(
    *,
    customer: Customer,
    score: int,
    reason: str,
    expires_on: dt.date | None = None,
    by: AbstractBaseUser | None,
    now: dt.datetime | None = None,
) -> HealthOverride:
    """A lead's score for a customer until expires_on (default in 30 days); it replaces the one before.
    The customer is scored again at once, so the page and the band follow."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    reason = (reason or "").strip()
    if not reason:
        raise HealthError("An override needs a reason.")
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise HealthError(f"The score must be a whole number from 0 to 100, not {score!r}.")
    expires_on = expires_on or today + dt.timedelta(days=30)
    if expires_on < today:
        raise HealthError(f"The expiry {expires_on.isoformat()} is in the past.")
    with transaction.atomic():
        # save(), not a bulk write: the audit log records every override, its end and its author.
        for previous in HealthOverride.objects.select_for_update().filter(customer=customer, ended_at__isnull=True):
            previous.ended_at, previous.ended_by_id = now, _pk(by)
            previous.save(update_fields=["ended_at", "ended_by"])
        override = HealthOverride(
            customer=customer, score=score, reason=reason, starts_on=today, expires_on=expires_on, created_by_id=_pk(by)
        )
        override.save()
        _rescore_one(customer.pk, today, now)
    return override


def health_override_end(
    *, override: HealthOverride, by: AbstractBaseUser | None, now: dt.datetime | None = None
) -> bool:
    """Lift an override before it expires; the computed score is in force again at once."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = HealthOverride.objects.select_for_update().filter(pk=override.pk, ended_at__isnull=True).first()
        if locked is None:
            return False
        locked.ended_at, locked.ended_by_id = now, _pk(by)
        locked.save(update_fields=["ended_at", "ended_by"])
        _rescore_one(locked.customer_id, timezone.localdate(now), now)
    return True
