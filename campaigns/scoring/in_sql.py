"""The measure kinds and the score's arithmetic as SQL expressions: the nightly scoring on
PostgreSQL computes points, reasons and scores in the database, set-based, one statement a chunk
(campaigns/services/health_in_sql.py), instead of sending every customer's facts to Python.

Each form is the same arithmetic as its Python function in campaigns/scoring/measures.py, written
so that the database computes the same floats (the same operations in the same order, in double
precision, the parameters turned into constants here) and the same reason sentences;
tests/campaigns/test_health_in_sql.py holds the two equal on random facts and parameters. The
Python functions stay the reference: they score the preview, SQLite, and any kind without a form
here (a kind an integrator registers scores in Python until it gets one).

An expression reads the facts as columns of the relation ``f`` (the columns of
campaigns.selectors.health.facts_sql: dates as dates, counts as integers) and the day scored as
``{as_of}``, a placeholder filled with the date's SQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from campaigns.scoring.combine import Scorer
from campaigns.scoring.measures import Params
from campaigns.scoring.measures import clamp as clamp_number


@dataclass(frozen=True)
class SqlPoints:
    """A measure's points (an integer expression, NULL without data) and its reason (text, read only
    where the points are not NULL)."""

    points: str
    reason: str


SqlForm = Callable[[Params], SqlPoints]

SQL_FORMS: dict[str, SqlForm] = {}


def sql_form(key: str) -> Callable[[SqlForm], SqlForm]:
    def register(form: SqlForm) -> SqlForm:
        if key in SQL_FORMS:
            raise ValueError(f"measure kind {key!r} has two SQL forms")
        SQL_FORMS[key] = form
        return form

    return register


def number(value: float) -> str:
    """A float as a double precision constant: the same float (PostgreSQL reads the shortest repr
    back exactly, infinities included)."""
    return f"CAST('{float(value)!r}' AS double precision)"


def text(value: str) -> str:
    """A string constant. The statement is run with parameters, so a % is doubled."""
    return "'" + value.replace("'", "''").replace("%", "%%") + "'"


def real(expression: str) -> str:
    """An integer expression as a double: Python's int-to-float in an arithmetic with a float."""
    return f"CAST(({expression}) AS double precision)"


HUNDRED = "CAST(100 AS double precision)"


def clamp(expression: str) -> str:
    """measures.clamp: int(value + 0.5) truncates towards zero, as TRUNC does."""
    return f"GREATEST(0, LEAST(100, TRUNC(({expression}) + 0.5)))::integer"


def count(column: str) -> str:
    """Facts.int: a count, 0 when missing."""
    return f"COALESCE(f.{column}, 0)"


def plural(n: str, one: str, many: str | None = None) -> str:
    """measures._plural: '1 day', '3 days'."""
    return f"(({n})::text || ' ' || CASE WHEN ({n}) = 1 THEN {text(one)} ELSE {text(many or one + 's')} END)"


def iso(date: str) -> str:
    """date.isoformat()."""
    return f"to_char({date}, 'YYYY-MM-DD')"


# --- The built-in kinds (campaigns/scoring/measures.py) ----------------------------------------


@sql_form("recency")
def _recency(params: Params) -> SqlPoints:
    rhythm = max(1.0, params["rhythm_days"])
    zero_after = max(1.0, params["zero_after"])
    span = rhythm * (zero_after - 1) or 1
    last = "GREATEST(f.last_touch_at, f.last_activity_at)"  # GREATEST passes over NULLs, as the Python does
    days = f"GREATEST(0, {{as_of}} - COALESCE({last}, f.customer_since))"
    falling = clamp(f"{HUNDRED} * (1 - ({real(days)} - {number(rhythm)}) / {number(span)})")
    points = (
        f"CASE WHEN COALESCE({last}, f.customer_since) IS NULL THEN NULL "
        f"WHEN {days} <= {number(rhythm)} THEN 100 ELSE {falling} END"
    )
    rhythm_text = text(f" ago (rhythm {int(rhythm)} days)")
    reason = (
        f"CASE WHEN {last} IS NULL THEN 'Never touched in the ' || {plural(days, 'day')} || ' since they were added' "
        f"ELSE 'Last ' || CASE WHEN {last} = f.last_touch_at THEN 'completed touch' ELSE 'activity' END "
        f"|| ' ' || {plural(days, 'day')} || {rhythm_text} END"
    )
    return SqlPoints(points, reason)


_OUTCOMES = (("reached", "reached"), ("voicemail", "voicemail"), ("no_answer", "no answer"), ("at_risk", "at risk"))


@sql_form("call_outcomes")
def _call_outcomes(params: Params) -> SqlPoints:
    counts = [(count(f"calls_{name}"), name, words) for name, words in _OUTCOMES]
    total = " + ".join(f"{n}" for n, _, _ in counts)
    # sum() in Python: 0 + each product, left to right.
    weighted = " + ".join(f"{number(params[name])} * {real(n)}" for n, name, _ in counts)
    points = f"CASE WHEN ({total}) = 0 THEN NULL ELSE {clamp(f'({weighted}) / {real(total)}')} END"
    streak = count("no_answer_streak")
    parts = ", ".join(f"CASE WHEN {n} <> 0 THEN {n}::text || {text(' ' + words)} END" for n, _, words in counts)
    reason = (
        f"CASE WHEN {streak} >= 2 THEN 'No answer on the last ' || {streak}::text || ' calls' "
        f"ELSE {plural(total, 'call')} || ' in 90 days: ' || concat_ws(', ', {parts}) END"
    )
    return SqlPoints(points, reason)


NO_OPEN_AT_RISK = text("No open 'at risk'")


@sql_form("at_risk")
def _at_risk(params: Params) -> SqlPoints:
    open_ = "f.last_at_risk_at IS NOT NULL AND (f.last_reached_at IS NULL OR f.last_reached_at < f.last_at_risk_at)"
    open_points = clamp_number(params["open_points"])
    points = f"CASE WHEN f.last_call_at IS NULL THEN NULL WHEN {open_} THEN {open_points} ELSE 100 END"
    reason = (
        f"CASE WHEN {open_} THEN 'Found at risk on ' || {iso('f.last_at_risk_at')} || ', not reached since' "
        f"ELSE {NO_OPEN_AT_RISK} END"
    )
    return SqlPoints(points, reason)


@sql_form("renewal")
def _renewal(params: Params) -> SqlPoints:
    days = "GREATEST(0, f.next_renewal_on - {as_of})"
    warn = max(1.0, params["warn_days"])
    floor = params["floor"]
    # floor + (100 - floor) * days / warn, evaluated left to right as in Python.
    rising = clamp(f"{number(floor)} + ({number(100 - floor)} * {real(days)}) / {number(warn)}")
    points = f"CASE WHEN f.next_renewal_on IS NULL THEN NULL WHEN {days} >= {number(warn)} THEN 100 ELSE {rising} END"
    return SqlPoints(points, f"'Renewal in ' || {plural(days, 'day')}")


@sql_form("returned_cards")
def _returned_cards(params: Params) -> SqlPoints:
    mailed, returned = count("cards_mailed"), count("cards_returned")
    cost = clamp(f"{HUNDRED} - {number(params['points_per_card'])} * {real(returned)}")
    points = (
        f"CASE WHEN f.address_undeliverable_on IS NOT NULL THEN 0 WHEN {mailed} = 0 THEN NULL "
        f"WHEN {returned} = 0 THEN 100 ELSE {cost} END"
    )
    reason = (
        f"CASE WHEN f.address_undeliverable_on IS NOT NULL THEN 'Address undeliverable since ' || "
        f"{iso('f.address_undeliverable_on')} "
        f"WHEN {returned} = 0 THEN 'No card returned (' || {plural(mailed, 'card')} || ' mailed)' "
        f"ELSE {plural(returned, 'card')} || ' returned undeliverable in the last year' END"
    )
    return SqlPoints(points, reason)


@sql_form("nps")
def _nps(params: Params) -> SqlPoints:
    group = "CASE WHEN f.nps_score >= 9 THEN 'promoter' WHEN f.nps_score >= 7 THEN 'passive' ELSE 'detractor' END"
    points = (
        "CASE WHEN f.nps_score IS NULL OR f.nps_at IS NULL "
        f"OR ({{as_of}} - f.nps_at) > {number(params['max_age_days'])} THEN NULL "
        f"WHEN f.nps_score >= 9 THEN {clamp_number(params['promoter'])} "
        f"WHEN f.nps_score >= 7 THEN {clamp_number(params['passive'])} "
        f"ELSE {clamp_number(params['detractor'])} END"
    )
    reason = f"'NPS ' || (f.nps_score)::integer::text || ' (' || {group} || ') on ' || {iso('f.nps_at')}"
    return SqlPoints(points, reason)


@sql_form("support_tickets")
def _support_tickets(params: Params) -> SqlPoints:
    recent = count("tickets_recent")
    cost = clamp(f"{HUNDRED} - {number(params['points_per_ticket'])} * {real(recent)}")
    points = f"CASE WHEN {count('tickets_total')} = 0 THEN NULL WHEN {recent} = 0 THEN 100 ELSE {cost} END"
    reason = (
        f"CASE WHEN {recent} = 0 THEN 'No support ticket in 90 days' "
        f"ELSE {plural(recent, 'support ticket')} || ' in 90 days' END"
    )
    return SqlPoints(points, reason)


# --- The score -----------------------------------------------------------------------------------


def has_sql(scorer: Scorer) -> bool:
    """Whether every measure of the scorer has an SQL form (else the chunk is scored in Python)."""
    return all(kind.key in SQL_FORMS for _, kind, _ in scorer.measures)


def _json_weight(weight: float) -> str:
    """The weight as the details' JSON holds it, as a numeric constant: PostgreSQL writes a numeric's
    digits as given, without an exponent (1.0 stays 1.0, 1e-09 is 0.000000001), as
    the Python path writes it (campaigns.services.health._json_number)."""
    value = float(weight) + 0.0  # -0.0 is 0.0
    if not math.isfinite(value):
        raise ValueError(f"a measure's weight must be a finite number, not {weight!r}")
    return f"CAST({value!r} AS numeric)"


def scored_sql(scorer: Scorer, facts: str, as_of_sql: str) -> str:
    """A SELECT over the facts (``facts``: a relation with an ``id`` and the fact columns) giving per
    customer ``id``, ``computed`` (the weighted mean, NULL without data), ``measures_used``,
    ``measures_total`` and ``details`` (json text: the snapshot's lines, combine.Line.stored, the same
    text as the Python path writes): the same sums in the same order as combine.ChunkScorer, so the
    same floats and the same scores. Built as json, not jsonb: text put together, nothing converted
    (jsonb_build_array took twice as long: docs/benchmarks-health.md).

    The points are computed once in an inner select (OFFSET 0 keeps the planner from pulling it up,
    which would compute each measure's points again wherever the outer select reads them)."""
    forms = [(spec, SQL_FORMS[kind.key](params)) for spec, kind, params in scorer.measures]
    inner = ", ".join(f"{form.points.replace('{as_of}', as_of_sql)} AS p_{n}" for n, (_, form) in enumerate(forms))
    counted = [(spec, f"f.p_{n}") for n, (spec, _) in enumerate(forms) if spec.weight > 0]
    if counted:
        total = " + ".join(f"CASE WHEN {p} IS NOT NULL THEN {number(spec.weight)} ELSE 0 END" for spec, p in counted)
        weighted = " + ".join(
            f"CASE WHEN {p} IS NOT NULL THEN {number(spec.weight)} * {real(p)} ELSE 0 END" for spec, p in counted
        )
        used = " + ".join(f"CASE WHEN {p} IS NOT NULL THEN 1 ELSE 0 END" for _, p in counted)
        computed = f"CASE WHEN ({used}) > 0 AND ({total}) > 0 THEN {clamp(f'({weighted}) / ({total})')} END"
    else:
        used, computed = "0", "CAST(NULL AS integer)"
    details = ", ".join(
        f"json_build_array({int(spec.id)}, {_json_weight(spec.weight)}, f.p_{n}, "
        f"CASE WHEN f.p_{n} IS NULL THEN 'No data' ELSE {form.reason.replace('{as_of}', as_of_sql)} END)"
        for n, (spec, form) in enumerate(forms)
    )
    # Our own expressions and constants; the facts' values are the statement's parameters.
    return (
        f"SELECT f.id, {computed} AS computed, ({used}) AS measures_used, {len(forms)} AS measures_total, "  # noqa: S608
        f"json_build_array({details}) AS details "
        f"FROM (SELECT f.*{', ' if inner else ''}{inner} FROM ({facts}) f OFFSET 0) f"
    )
