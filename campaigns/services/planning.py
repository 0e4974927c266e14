"""The planner: turns cadence rules into touchpoints (docs/calendar-rules.md).

A run has three steps:

1. ``start_sweep`` decides the window and computes the *slots*: for every active rule and every
   distinct (milestone date, country, region) the (occurs_on, due_on) pairs that fall in the
   window. The calendar is computed once per distinct date and calendar, in Python, with the pure
   functions of ``nurture.lib.calendar``; millions of customers share a few thousand dates.
2. The customer base is cut into chunks of customer ids; any worker may take any chunk.
   ``run_chunk`` first cancels the pending touchpoints whose basis no longer holds (rule 6), then
   materialises touchpoints with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` joining
   customers, milestones and slots. The partial unique constraint on (rule, milestone, occurs_on)
   makes every chunk safe to run twice, concurrently, or again after a crash.
3. The last chunk to finish marks the run complete. The next sweep starts where the last
   *completed* run ended (rule 5), so a run that died, or did not happen, is made up.

Customers and milestones changed since the last completed sweep began (less a safety margin,
CHANGE_MARGIN) are planned over the whole window from the last completed date, so a new milestone
gets its touchpoints even inside a window that was already covered; touchpoints created after
their due date had begun are marked late.

Seasonal cadences (anchored on a date, docs/calendar-rules.md rule 7) go through the same three
steps: their slots are computed once per (rule, year, country, region), since a holiday's date
depends on the country, and a second ``INSERT ... SELECT`` per chunk joins customers to them by
calendar. Their touchpoints have no milestone; the partial unique constraint on (customer, rule,
season) makes them just as idempotent. Both inserts and the reconciler apply the cadence's segment
(tags, tiers, countries, excluded customers) with one SQL fragment, ``_SEGMENT_SQL``. Customers in
the holdout group are never planned.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, Q, Sum
from django.utils import timezone

from campaigns.models import Cadence, PlannerChunk, PlannerRun, PlanSlot, Rule, Touchpoint
from campaigns.services import holds
from nurture.lib import calendar
from nurture.lib.customer_scope import CustomerScope
from nurture.lib.localdates import local_date_exceptions
from nurture.models import Customer, Milestone

log = logging.getLogger(__name__)

# How far beyond the window an occurrence may lie and still be due inside it: a card is due some
# business days before its date, a call may move to the next business day over a long holiday.
_CALL_SLACK_DAYS = 14


@dataclass
class PlanResult:
    run_id: int
    created: int = 0
    cancelled: int = 0
    chunks: int = 0
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Window:
    as_of: dt.date
    # Due dates in [start, end] are planned for every customer.
    start: dt.date
    end: dt.date
    # Changed customers and milestones are planned for every occurrence not wholly before this date.
    catch_up_from: dt.date
    changed_since: dt.datetime | None


# How far before the last completed sweep began a change still counts as new. A row is stamped
# (updated_at, or PostgreSQL's now(): the start of its transaction) before it commits; one that
# committed after that sweep had read its customers, with a stamp from before the sweep began,
# would otherwise be missed for good. Changes inside the margin are planned again, which is
# idempotent and cheap. Imports and admin saves also announce their changes (customers_changed);
# the margin covers writes that do not, such as SQL from outside the application.
CHANGE_MARGIN = dt.timedelta(minutes=10)


def last_completed_sweep() -> PlannerRun | None:
    return PlannerRun.objects.completed_sweeps().order_by("-window_end", "-started_at").first()


def sweep_window(*, now: dt.datetime, horizon_days: int) -> Window:
    as_of = timezone.localdate(now)
    end = as_of + dt.timedelta(days=horizon_days)
    last = last_completed_sweep()
    if last is None:
        return Window(as_of=as_of, start=as_of, end=end, catch_up_from=as_of, changed_since=None)
    return Window(
        as_of=as_of,
        start=last.window_end + dt.timedelta(days=1),
        end=end,
        catch_up_from=min(as_of, last.as_of),
        changed_since=last.started_at - CHANGE_MARGIN,
    )


def _leap_day() -> calendar.LeapDayPolicy:
    return "mar1" if settings.NURTURE_LEAP_DAY == "mar1" else "feb28"


def _due_on(rule: Rule, occurs_on: dt.date, country: str, region: str) -> dt.date:
    return rule.due_on(occurs_on, country, region)


def _slack_days(rule: Rule) -> int:
    # An offset in business days moves each occurrence further than its number of days.
    offset = calendar.business_days_span(rule.schedule())
    if rule.action == Rule.Action.CARD:
        # n business days span at most about 1.4n calendar days, plus holidays.
        return 2 * rule.card_lead_days + _CALL_SLACK_DAYS + offset
    return _CALL_SLACK_DAYS + offset


def compute_slots(
    *,
    run: PlannerRun,
    window: Window,
    rules: Sequence[Rule],
    everyone_dates: dict[int, list[dt.date]],
    changed_dates: dict[int, set[dt.date]],
    calendars: Sequence[tuple[str, str]],
    full_rules: set[int],
) -> list[PlanSlot]:
    """The slots of a run. Pure apart from building unsaved model instances.

    everyone_dates: per milestone kind, the milestone dates of every customer.
    changed_dates: per milestone kind, the dates of changed customers and milestones.
    full_rules: rules that are new or changed, planned over the catch-up window for everyone.
    """
    leap_day = _leap_day()
    slots: list[PlanSlot] = []
    for rule in rules:
        anchor = rule.cadence.date_anchor()
        if anchor is not None:
            slots += _seasonal_slots(
                run=run, window=window, rule=rule, anchor=anchor, calendars=calendars, full=rule.pk in full_rules
            )
            continue
        kind_id = rule.cadence.anchor_kind_id
        assert kind_id is not None  # the cadence_anchor_complete constraint
        countries = set(rule.cadence.country_list)
        full_for_everyone = rule.pk in full_rules
        changed = changed_dates.get(kind_id, set())
        dates = set(changed)
        if full_for_everyone or window.start <= window.end:
            dates.update(everyone_dates.get(kind_id, ()))
        slack = dt.timedelta(days=_slack_days(rule))
        first = min(window.start, window.catch_up_from) - slack
        last = window.end + slack
        schedule = rule.schedule()
        for milestone_date in sorted(dates):
            occurrences = calendar.occurrences_between(milestone_date, schedule, first, last, leap_day)
            if not occurrences:
                continue
            date_changed = milestone_date in changed
            for country, region in calendars:
                if countries and country not in countries:
                    continue  # not in the cadence's segment: no slot, no touchpoint
                for index, anniversary in occurrences:
                    occurs_on = calendar.in_business_days(anniversary, schedule, country, region)
                    due_on = _due_on(rule, occurs_on, country, region)
                    if due_on > window.end:
                        continue
                    in_window = due_on >= window.start
                    catch_up = due_on >= window.catch_up_from or occurs_on >= window.catch_up_from
                    for_everyone = in_window or (full_for_everyone and catch_up)
                    if not (for_everyone or (date_changed and catch_up)):
                        continue
                    slots.append(
                        PlanSlot(
                            run=run,
                            rule_id=rule.pk,
                            rule_version=rule.version,
                            kind_id=kind_id,
                            cadence_id=rule.cadence_id,
                            action=rule.action,
                            milestone_date=milestone_date,
                            country=country,
                            region=region,
                            occurrence_index=index,
                            occurs_on=occurs_on,
                            due_on=due_on,
                            for_everyone=for_everyone,
                        )
                    )
    return slots


def _seasonal_slots(
    *,
    run: PlannerRun,
    window: Window,
    rule: Rule,
    anchor: calendar.DateAnchor,
    calendars: Sequence[tuple[str, str]],
    full: bool,
) -> list[PlanSlot]:
    """The slots of a date-anchored rule: one per (year, country, region) whose date is due in the
    window (for everyone) or in the catch-up window (for changed customers, or everyone when the rule
    is new or changed). The anchor date is kept as milestone_date, its year as the season."""
    leap_day = _leap_day()
    slack = dt.timedelta(days=_slack_days(rule))
    first = min(window.start, window.catch_up_from) - slack
    last = window.end + slack
    countries = set(rule.cadence.country_list)
    schedule = rule.schedule()
    slots: list[PlanSlot] = []
    for country, region in calendars:
        if countries and country not in countries:
            continue
        for season, anchor_on, anniversary in calendar.anchored_occurrences_between(
            anchor, schedule, first, last, country, region, leap_day
        ):
            occurs_on = calendar.in_business_days(anniversary, schedule, country, region)
            due_on = rule.due_on(occurs_on, country, region)
            if due_on > window.end:
                continue
            in_window = due_on >= window.start
            catch_up = due_on >= window.catch_up_from or occurs_on >= window.catch_up_from
            if not (in_window or catch_up):
                continue
            slots.append(
                PlanSlot(
                    run=run,
                    rule_id=rule.pk,
                    rule_version=rule.version,
                    kind_id=None,
                    cadence_id=rule.cadence_id,
                    action=rule.action,
                    milestone_date=anchor_on,
                    season=season,
                    country=country,
                    region=region,
                    occurrence_index=0,
                    occurs_on=occurs_on,
                    due_on=due_on,
                    for_everyone=in_window or (full and catch_up),
                )
            )
    return slots


def _active_rules() -> list[Rule]:
    return list(Rule.objects.filter(active=True, cadence__active=True).select_related("cadence"))


def _kind_ids(rules: Iterable[Rule]) -> set[int]:
    """The milestone kinds the rules count from (seasonal rules count from none)."""
    return {rule.cadence.anchor_kind_id for rule in rules if rule.cadence.anchor_kind_id is not None}


def _full_rules(rules: Iterable[Rule], changed_since: dt.datetime | None) -> set[int]:
    if changed_since is None:
        return {rule.pk for rule in rules}
    return {rule.pk for rule in rules if rule.updated_at >= changed_since or rule.cadence.updated_at >= changed_since}


def _milestone_dates(milestones: Iterable[tuple[int, dt.date]]) -> dict[int, set[dt.date]]:
    by_kind: dict[int, set[dt.date]] = {}
    for kind_id, day in milestones:
        by_kind.setdefault(kind_id, set()).add(day)
    return by_kind


def _changed_milestones(changed_since: dt.datetime | None, kind_ids: set[int]) -> dict[int, set[dt.date]]:
    if changed_since is None:
        return {}
    rows = (
        Milestone.objects.filter(kind_id__in=kind_ids)
        .filter(Q(updated_at__gte=changed_since) | Q(customer__updated_at__gte=changed_since))
        .order_by()  # no default ordering in the DISTINCT: one row per date, not per milestone
        .values_list("kind_id", "date")
        .distinct()
    )
    return _milestone_dates(rows)


def _calendars() -> list[tuple[str, str]]:
    return sorted(set(Customer.objects.order_by().values_list("country", "region").distinct()))


def start_sweep(*, now: dt.datetime | None = None, horizon_days: int | None = None) -> PlannerRun:
    """Create a sweep run: its window, slots and chunks. The chunks are run by ``run_chunk``."""
    now = now or timezone.now()
    horizon = settings.NURTURE_PLAN_HORIZON_DAYS if horizon_days is None else horizon_days
    window = sweep_window(now=now, horizon_days=horizon)
    rules = _active_rules()
    kind_ids = _kind_ids(rules)
    seasonal = any(rule.cadence.is_date_anchored for rule in rules)
    full_rules = _full_rules(rules, window.changed_since)
    need_everyone = bool(full_rules) or window.start <= window.end
    everyone: dict[int, list[dt.date]] = {}
    if need_everyone and kind_ids:
        rows = Milestone.objects.filter(kind_id__in=kind_ids).order_by().values_list("kind_id", "date").distinct()
        everyone = {kind: sorted(days) for kind, days in _milestone_dates(rows).items()}
    changed = _changed_milestones(window.changed_since, kind_ids)
    with transaction.atomic():
        run = PlannerRun.objects.create(
            scope=PlannerRun.Scope.SWEEP,
            as_of=window.as_of,
            planned_at=now,
            window_start=window.start,
            window_end=window.end,
            changed_since=window.changed_since,
        )
        slots = compute_slots(
            run=run,
            window=window,
            rules=rules,
            everyone_dates=everyone,
            changed_dates=changed,
            calendars=_calendars() if (everyone or changed or seasonal) else [],
            full_rules=full_rules,
        )
        PlanSlot.objects.bulk_create(slots, batch_size=5000)
        chunks = _chunks(run, settings.NURTURE_PLAN_CHUNK_SIZE)
        PlannerChunk.objects.bulk_create(chunks)
        run.chunk_count = len(chunks)
        run.save(update_fields=["chunk_count"])
    _analyze_slots()
    log.info(
        "planner run %s: as of %s, window %s..%s, %d slots, %d chunks",
        run.pk,
        window.as_of,
        window.start,
        window.end,
        len(slots),
        len(chunks),
    )
    return run


def _analyze_slots() -> None:
    """Fresh statistics for the slots just written.

    Without them PostgreSQL guesses a handful of slots per run and joins every customer of a chunk
    to every slot first: seconds per chunk instead of a fraction of one (docs/benchmarks.md).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_table(PlanSlot)}")


def _chunks(run: PlannerRun, size: int) -> list[PlannerChunk]:
    bounds = Customer.objects.aggregate(first=Min("id"), last=Max("id"))
    if bounds["first"] is None:
        return []
    first, last = int(bounds["first"]), int(bounds["last"])
    return [
        PlannerChunk(run=run, index=index, first_customer_id=low, last_customer_id=min(low + size - 1, last))
        for index, low in enumerate(range(first, last + 1, size))
    ]


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)  # type: ignore[attr-defined]


def _late_sql(planned_at: dt.datetime, as_of: dt.date) -> tuple[str, list[Any]]:
    """SQL for 'the customer's local today' at planned_at (rule 4), as a CASE over time zones."""
    exceptions = local_date_exceptions(planned_at, as_of)
    if not exceptions:
        return "%s", [as_of]
    parts: list[str] = []
    params: list[Any] = []
    for day, zones in sorted(exceptions.items()):
        parts.append(f"WHEN c.time_zone IN ({', '.join(['%s'] * len(zones))}) THEN %s")
        params.extend(zones)
        params.append(day)
    return f"CASE {' '.join(parts)} ELSE %s END", [*params, as_of]


_RECONCILE_SQL = """
SELECT id, reason FROM (
    SELECT t.id AS id, CASE
        WHEN c.status = 'do_not_contact' THEN 'customer is do-not-contact'
        WHEN c.status = 'churned' THEN 'customer churned'
        WHEN c.holdout THEN 'customer in the holdout group'
        WHEN t.season IS NULL AND cd.anchor <> 'milestone' THEN 'cadence now counts from a date'
        WHEN t.season IS NOT NULL AND cd.anchor = 'milestone' THEN 'cadence now counts from a milestone'
        WHEN t.season IS NULL AND t.milestone_id IS NULL THEN 'milestone deleted'
        WHEN m.date <> t.milestone_date THEN 'milestone date changed'
        WHEN m.kind_id <> cd.anchor_kind_id THEN 'milestone kind changed'
        WHEN NOT r.active THEN 'rule disabled'
        WHEN NOT cd.active THEN 'cadence disabled'
        WHEN r.version <> t.rule_version THEN 'rule edited'
        WHEN NOT ({segment}) THEN 'customer left the segment'
    END AS reason
    FROM {touchpoint} t
    JOIN {customer} c ON c.id = t.customer_id
    LEFT JOIN {milestone} m ON m.id = t.milestone_id
    JOIN {rule} r ON r.id = t.rule_id
    JOIN {cadence} cd ON cd.id = r.cadence_id
    WHERE t.status IN ('pending', 'held') AND {customers}
) candidates
WHERE reason IS NOT NULL
"""

_INSERT_SQL = """
INSERT INTO {touchpoint} (
    customer_id, rule_id, milestone_id, milestone_date, occurrence_index, occurs_on, due_on, kind, status,
    assignee_id, late, rule_version, attempt, hold_reason, cancel_reason, skip_reason, outcome, notes,
    created_at, updated_at
)
SELECT
    c.id, s.rule_id, m.id, m.date, s.occurrence_index, s.occurs_on, s.due_on, s.action, 'pending',
    c.account_manager_id, s.due_on < {local_today}, s.rule_version, 0, '', '', '', '', '', %s, %s
FROM {customer} c
JOIN {milestone} m ON m.customer_id = c.id
JOIN {slot} s ON s.run_id = %s AND s.kind_id = m.kind_id AND s.milestone_date = m.date
    AND s.country = c.country AND s.region = c.region
JOIN {cadence} cd ON cd.id = s.cadence_id
WHERE {customers} AND c.status = 'active' AND NOT c.holdout
    AND (s.for_everyone OR c.updated_at >= %s OR m.updated_at >= %s)
    AND {segment}
ON CONFLICT DO NOTHING
"""

# A seasonal rule's touchpoints: customers joined to the slots of their calendar (no milestone).
# The partial unique constraint touchpoint_one_live_per_season makes it idempotent.
_INSERT_SEASONAL_SQL = """
INSERT INTO {touchpoint} (
    customer_id, rule_id, milestone_id, milestone_date, occurrence_index, season, occurs_on, due_on, kind, status,
    assignee_id, late, rule_version, attempt, hold_reason, cancel_reason, skip_reason, outcome, notes,
    created_at, updated_at
)
SELECT
    c.id, s.rule_id, NULL, s.milestone_date, s.occurrence_index, s.season, s.occurs_on, s.due_on, s.action, 'pending',
    c.account_manager_id, s.due_on < {local_today}, s.rule_version, 0, '', '', '', '', '', %s, %s
FROM {customer} c
JOIN {slot} s ON s.run_id = %s AND s.season IS NOT NULL AND s.country = c.country AND s.region = c.region
JOIN {cadence} cd ON cd.id = s.cadence_id
WHERE {customers} AND c.status = 'active' AND NOT c.holdout
    AND (s.for_everyone OR c.updated_at >= %s)
    AND {segment}
ON CONFLICT DO NOTHING
"""

# A customer in a cadence's segment (c: the customer, cd: the cadence): one of its tags if it names
# any, one of its tiers and countries if it lists any ("gold,silver" matched as ",gold,silver,"
# LIKE "%,gold,%"; a tier's "_" escaped, being LIKE's wildcard), and not excluded. The same on
# PostgreSQL and SQLite; Cadence.segment_q() says it for the ORM.
_SEGMENT_SQL = """(
    (NOT EXISTS (SELECT 1 FROM {cadence_tags} cdt WHERE cdt.cadence_id = cd.id)
        OR EXISTS (
            SELECT 1 FROM {cadence_tags} cdt JOIN {customer_tags} ct ON ct.tag_id = cdt.tag_id
            WHERE cdt.cadence_id = cd.id AND ct.customer_id = c.id
        ))
    AND (cd.tiers = '' OR (',' || cd.tiers || ',') LIKE ('%%,' || REPLACE(c.tier, '_', '!_') || ',%%') ESCAPE '!')
    AND (cd.countries = '' OR (',' || cd.countries || ',') LIKE ('%%,' || c.country || ',%%'))
    AND NOT EXISTS (SELECT 1 FROM {cadence_excluded} cde WHERE cde.cadence_id = cd.id AND cde.customer_id = c.id)
)"""


def _tables() -> dict[str, str]:
    tables = {
        "touchpoint": _table(Touchpoint),
        "customer": _table(Customer),
        "milestone": _table(Milestone),
        "rule": _table(Rule),
        "cadence": _table(Cadence),
        "slot": _table(PlanSlot),
        "customer_tags": _table(Customer.tags.through),
        "cadence_tags": _table(Cadence.tags.through),
        "cadence_excluded": _table(Cadence.excluded_customers.through),
    }
    return {**tables, "segment": _SEGMENT_SQL.format(**tables)}


def reconcile(*, now: dt.datetime, scope: CustomerScope) -> int:
    """Cancel pending touchpoints whose basis changed (rule 6). Returns how many were cancelled."""
    where, params = scope.sql(["t.customer_id", "c.id"])
    with connection.cursor() as cursor:
        cursor.execute(_RECONCILE_SQL.format(customers=where, **_tables()), params)
        by_reason: dict[str, list[int]] = {}
        for pk, reason in cursor.fetchall():
            by_reason.setdefault(reason, []).append(pk)
    cancelled = 0
    for reason, pks in by_reason.items():
        for start in range(0, len(pks), 5000):
            # The status again: a touchpoint done meanwhile is history and stays as it is.
            cancelled += Touchpoint.objects.filter(
                pk__in=pks[start : start + 5000], status__in=[Touchpoint.Status.PENDING, Touchpoint.Status.HELD]
            ).update(status=Touchpoint.Status.CANCELLED, cancel_reason=reason, updated_at=now)
    return cancelled


def materialise(*, run: PlannerRun, now: dt.datetime, scope: CustomerScope) -> int:
    """Insert the run's touchpoints for some customers. Returns how many rows were new."""
    where, where_params = scope.sql(["c.id", "m.customer_id"])
    local_today, today_params = _late_sql(run.planned_at, run.as_of)
    tables = _tables()
    sql = _INSERT_SQL.format(customers=where, local_today=local_today, **tables)
    changed_since = run.changed_since
    params = [*today_params, now, now, run.pk, *where_params, changed_since, changed_since]
    seasonal_where, seasonal_where_params = scope.sql(["c.id"])
    seasonal_sql = _INSERT_SEASONAL_SQL.format(customers=seasonal_where, local_today=local_today, **tables)
    seasonal_params = [*today_params, now, now, run.pk, *seasonal_where_params, changed_since]
    created = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        created += max(int(cursor.rowcount), 0)
        # Seasonal slots are few; skip the second statement when the run has none.
        if PlanSlot.objects.filter(run_id=run.pk, season__isnull=False).exists():
            cursor.execute(seasonal_sql, seasonal_params)
            created += max(int(cursor.rowcount), 0)
    return created


_REASSIGN_SQL = """
UPDATE {touchpoint} SET assignee_id = (
    SELECT c.account_manager_id FROM {customer} c WHERE c.id = {touchpoint}.customer_id
), updated_at = %s
WHERE status IN ('pending', 'held') AND {customers} AND assignee_id IS DISTINCT FROM (
    SELECT c.account_manager_id FROM {customer} c WHERE c.id = {touchpoint}.customer_id
)
"""


def reassign(*, now: dt.datetime, scope: CustomerScope) -> int:
    """Open touchpoints follow their customer to a new account manager."""
    tables = _tables()
    where, params = scope.sql([f"{tables['touchpoint']}.customer_id"])
    with connection.cursor() as cursor:
        cursor.execute(_REASSIGN_SQL.format(customers=where, **tables), [now, *params])
        return max(int(cursor.rowcount), 0)


def hold(*, run: PlannerRun, now: dt.datetime, scope: CustomerScope) -> int:
    """Hold back what quiet periods, undeliverable addresses and the frequency cap do not allow.

    First release the cards held for an address that has changed since, so that the holds after
    it see them as pending again (campaigns/services/holds.py).
    """
    holds.release_deliverable_addresses(now=now, scope=scope)
    held = holds.apply_quiet_periods(now=now, scope=scope)
    held += holds.apply_undeliverable_addresses(now=now, scope=scope)
    return held + holds.apply_frequency_cap(as_of=run.as_of, now=now, scope=scope)


def run_chunk(*, run_id: int, index: int) -> tuple[int, int]:
    """Plan one chunk of a sweep. Safe to run twice or concurrently. Returns (created, cancelled)."""
    now = timezone.now()
    with transaction.atomic():
        chunk = PlannerChunk.objects.select_related("run").get(run_id=run_id, index=index)
        run = chunk.run
        cancelled = reconcile(now=now, scope=chunk.customers)
        reassign(now=now, scope=chunk.customers)
        created = materialise(run=run, now=now, scope=chunk.customers)
        hold(run=run, now=now, scope=chunk.customers)
        # Only the first completion of a chunk counts its numbers.
        PlannerChunk.objects.filter(pk=chunk.pk, finished_at__isnull=True).update(
            finished_at=now, created_count=created, cancelled_count=cancelled
        )
    # After the commit: the last chunk to commit sees every other one finished.
    finish_run_if_complete(run_id)
    return created, cancelled


def finish_run_if_complete(run_id: int) -> bool:
    if PlannerChunk.objects.filter(run_id=run_id, finished_at__isnull=True).exists():
        return False
    totals = PlannerChunk.objects.filter(run_id=run_id).aggregate(
        created=Sum("created_count"), cancelled=Sum("cancelled_count")
    )
    with transaction.atomic():
        finished = PlannerRun.objects.filter(pk=run_id, finished_at__isnull=True).update(
            finished_at=timezone.now(),
            created_count=totals["created"] or 0,
            cancelled_count=totals["cancelled"] or 0,
        )
        if finished:
            PlanSlot.objects.filter(run_id=run_id).delete()
    if finished:
        log.info("planner run %s complete: %s created, %s cancelled", run_id, totals["created"], totals["cancelled"])
    return bool(finished)


def plan(
    *,
    now: dt.datetime | None = None,
    horizon_days: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PlanResult:
    """A whole sweep in this process (the command and the demo data use it; Beat fans out)."""
    run = start_sweep(now=now, horizon_days=horizon_days)
    result = PlanResult(run_id=run.pk, chunks=run.chunk_count, window_start=run.window_start, window_end=run.window_end)
    for index in range(run.chunk_count):
        created, cancelled = run_chunk(run_id=run.pk, index=index)
        result.created += created
        result.cancelled += cancelled
        if progress is not None:
            progress(index + 1, run.chunk_count)
    finish_run_if_complete(run.pk)
    return result


def plan_customers(customer_ids: Sequence[int], *, now: dt.datetime | None = None) -> PlanResult:
    """Re-plan a few customers at once, e.g. after a milestone was edited (rule 6)."""
    now = now or timezone.now()
    ids = sorted({int(pk) for pk in customer_ids})
    as_of = timezone.localdate(now)
    last = last_completed_sweep()
    end = as_of + dt.timedelta(days=settings.NURTURE_PLAN_HORIZON_DAYS)
    if last is not None:
        end = max(end, last.window_end)
    catch_up_from = min(as_of, last.as_of) if last is not None else as_of
    # An empty incremental window: everything planned here is "changed" (the customers given).
    window = Window(
        as_of=as_of, start=end + dt.timedelta(days=1), end=end, catch_up_from=catch_up_from, changed_since=None
    )
    rules = _active_rules()
    kind_ids = _kind_ids(rules)
    rows = Milestone.objects.filter(customer_id__in=ids, kind_id__in=kind_ids).order_by().values_list("kind_id", "date")
    calendars = sorted(set(Customer.objects.filter(pk__in=ids).order_by().values_list("country", "region")))
    with transaction.atomic():
        run = PlannerRun.objects.create(
            scope=PlannerRun.Scope.CUSTOMERS,
            as_of=as_of,
            planned_at=now,
            window_start=catch_up_from,
            window_end=end,
            chunk_count=1,
        )
        slots = compute_slots(
            run=run,
            window=window,
            rules=rules,
            everyone_dates={},
            changed_dates=_milestone_dates(rows),
            calendars=calendars,
            full_rules=set(),
        )
        for slot in slots:
            slot.for_everyone = True  # "everyone" is the customers given
        PlanSlot.objects.bulk_create(slots, batch_size=5000)
        scope = CustomerScope.of(ids)
        cancelled = created = 0
        if not scope.is_empty:
            cancelled = reconcile(now=now, scope=scope)
            reassign(now=now, scope=scope)
            created = materialise(run=run, now=now, scope=scope)
            hold(run=run, now=now, scope=scope)
        PlanSlot.objects.filter(run=run).delete()
        run.created_count, run.cancelled_count, run.finished_at = created, cancelled, timezone.now()
        run.save(update_fields=["created_count", "cancelled_count", "finished_at"])
    return PlanResult(
        run_id=run.pk, created=created, cancelled=cancelled, chunks=1, window_start=catch_up_from, window_end=end
    )
