"""The nightly scoring on PostgreSQL computes points, reasons and scores in the database
(campaigns/scoring/in_sql.py); the Python measure kinds are the reference. The two must give the
same points, the same reason sentences, the same scores and the same stored JSON, for any facts,
parameters and weights; and a day scored one way and scored again the other way writes no row."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import HealthMeasure, HealthSnapshot
from campaigns.scoring.combine import MeasureSpec, Scorer
from campaigns.scoring.in_sql import SQL_FORMS, has_sql, scored_sql
from campaigns.scoring.measures import MEASURE_KINDS, MeasureKind, Points
from campaigns.selectors.health import FACT_SOURCES
from campaigns.services import health_in_sql
from campaigns.services.health import _encoded, _joined, health_score_day
from nurture.models import Customer
from tests.factories import current_score, make_customer, make_touchpoint

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 6, 15)

# The facts as campaigns.selectors.health.facts_sql gives them: dates, counts, the NPS answer.
DATE_FACTS = (
    "customer_since",
    "address_undeliverable_on",
    "last_touch_at",
    "last_call_at",
    "last_at_risk_at",
    "last_reached_at",
    "next_renewal_on",
    "last_activity_at",
    "nps_at",
)
COUNT_FACTS = (
    "calls_reached",
    "calls_voicemail",
    "calls_no_answer",
    "calls_at_risk",
    "no_answer_streak",
    "cards_mailed",
    "cards_returned",
    "tickets_recent",
    "tickets_total",
)
COLUMNS = (*DATE_FACTS, *COUNT_FACTS, "nps_score")


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the scoring in the database is PostgreSQL's; elsewhere the Python scores")


def test_every_built_in_kind_has_an_sql_form_and_the_facts_are_the_statement_s():
    assert set(SQL_FORMS) == set(MEASURE_KINDS)
    read = {name for kind in MEASURE_KINDS.values() for name in kind.reads}
    given_facts = {"customer_since", "address_undeliverable_on"} | {c for s in FACT_SOURCES for c in s.columns}
    assert read <= given_facts == set(COLUMNS)


# Days from the day scored: anywhere, or near the kinds' edges (the same day as another fact, a
# rhythm, 90 days, a year) so that ties and boundaries come up.
offsets = st.one_of(
    st.integers(min_value=-1200, max_value=400),
    st.sampled_from([-366, -365, -364, -271, -270, -180, -91, -90, -89, -3, -2, -1, 0, 1, 2, 89, 90, 91]),
)
counts = st.one_of(st.none(), st.integers(min_value=0, max_value=12))


@st.composite
def fact_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A few customers' facts. Their dates come from a small pool, so that facts fall on the same
    day as each other (a call reached on the day it found the customer at risk) as well as apart."""
    pool = draw(st.lists(offsets.map(lambda d: AS_OF + dt.timedelta(days=d)), min_size=1, max_size=4))
    dates = st.one_of(st.none(), st.sampled_from(pool))
    row = st.fixed_dictionaries(
        {
            **dict.fromkeys(DATE_FACTS, dates),
            **dict.fromkeys(COUNT_FACTS, counts),
            "nps_score": st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
        }
    )
    return draw(st.lists(row, min_size=1, max_size=6))


# Thresholds: whole numbers, awkward fractions, zero and the edges the kinds guard against.
param_values = st.one_of(
    st.integers(min_value=0, max_value=400).map(float),
    st.floats(min_value=0, max_value=400, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 0.5, 1.0, 1.5, 99.5, 100.0, 1e-9]),
)
weights = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 0.1, 0.3, 1 / 3]), st.floats(min_value=0, max_value=50))


@st.composite
def measure_sets(draw: st.DrawFn) -> list[MeasureSpec]:
    # Mostly every kind (in any order), some left out, some twice: each kind in most examples.
    every = draw(st.permutations(sorted(MEASURE_KINDS)))
    left_out = draw(st.sets(st.sampled_from(every), max_size=2))
    twice = draw(st.lists(st.sampled_from(every), max_size=2))
    keys = [key for key in every if key not in left_out] + twice
    specs = []
    for n, key in enumerate(keys):
        kind = MEASURE_KINDS[key]
        names = draw(st.lists(st.sampled_from(sorted(kind.defaults)), unique=True)) if kind.defaults else []
        params = {name: draw(param_values) for name in names}
        specs.append(MeasureSpec(id=n + 1, kind=key, name=f"m{n}", weight=draw(weights), params=params))
    return specs


def scored_in_database(scorer: Scorer, rows: list[dict[str, Any]], as_of: dt.date) -> list[tuple[Any, ...]]:
    casts = {**dict.fromkeys(DATE_FACTS, "date"), **dict.fromkeys(COUNT_FACTS, "bigint"), "nps_score": "smallint"}
    values = ", ".join("(" + ", ".join(["%s::bigint", *(f"%s::{casts[name]}" for name in COLUMNS)]) + ")" for _ in rows)
    facts = f"SELECT * FROM (VALUES {values}) AS v (id, {', '.join(COLUMNS)})"
    params: list[Any] = []
    for n, row in enumerate(rows):
        params += [n, *(row[name] for name in COLUMNS)]
    day = f"DATE '{as_of.isoformat()}'"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, computed, measures_used, measures_total, details::text "
            f"FROM ({scored_sql(scorer, facts, day)}) s ORDER BY id",
            params,
        )
        return cursor.fetchall()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=measure_sets(), rows=fact_rows())
def test_the_database_scores_as_the_python_measures_do(specs: list[MeasureSpec], rows: list[dict[str, Any]]):
    scorer = Scorer.of(specs)
    assert has_sql(scorer)
    chunk = scorer.for_rows(as_of=AS_OF, columns=("id", *COLUMNS), encode=_encoded, join=_joined)
    got = scored_in_database(scorer, rows, AS_OF)
    assert len(got) == len(rows)
    for (pk, computed, used, total, details), row in zip(got, rows, strict=True):
        score, want_details = chunk((pk, *(row[name] for name in COLUMNS)))
        assert (computed, used, total) == (score.score, score.used, score.total)
        # The same JSON text as the Python path writes, character for character.
        assert json.loads(details) == json.loads(want_details)
        assert details == want_details


def test_the_reasons_read_as_in_python_for_a_typical_customer():
    specs = [
        MeasureSpec(id=n, kind=key, name=key, weight=1.0, params={}) for n, key in enumerate(sorted(MEASURE_KINDS), 1)
    ]
    row = dict.fromkeys(COLUMNS)
    row |= {
        "customer_since": AS_OF - dt.timedelta(days=500),
        "last_touch_at": AS_OF - dt.timedelta(days=1),
        "last_call_at": AS_OF - dt.timedelta(days=1),
        "last_at_risk_at": AS_OF - dt.timedelta(days=1),
        "calls_at_risk": 1,
        "calls_no_answer": 2,
        "cards_mailed": 3,
        "cards_returned": 1,
        "next_renewal_on": AS_OF + dt.timedelta(days=1),
        "nps_score": 6,
        "nps_at": AS_OF - dt.timedelta(days=10),
        "tickets_total": 1,
        "tickets_recent": 1,
    }
    [(_, computed, used, _, details)] = scored_in_database(Scorer.of(specs), [row], AS_OF)
    reasons = {MEASURE_KINDS[sorted(MEASURE_KINDS)[m - 1]].key: reason for m, _, _, reason in json.loads(details)}
    assert reasons == {
        "at_risk": "Found at risk on 2026-06-14, not reached since",
        "call_outcomes": "3 calls in 90 days: 2 no answer, 1 at risk",
        "nps": "NPS 6 (detractor) on 2026-06-05",
        "recency": "Last completed touch 1 day ago (rhythm 90 days)",
        "renewal": "Renewal in 1 day",
        "returned_cards": "1 card returned undeliverable in the last year",
        "support_tickets": "1 support ticket in 90 days",
    }
    assert used == 7
    assert computed is not None


def _written() -> list[Any]:
    """Each row of the day with its row version (xmin): a row written again gets a new one."""
    version = RawSQL("xmin::text", [])
    return list(HealthSnapshot.objects.annotate(v=version).order_by("customer_id").values_list("v", "details"))


@pytest.mark.parametrize("first_in_database", [True, False])
def test_a_day_scored_one_way_and_again_the_other_writes_no_row(monkeypatch, first_in_database):
    HealthMeasure.objects.filter(kind="recency").update(weight=0.3, params={"rhythm_days": 45.5})
    HealthMeasure.objects.filter(kind="renewal").update(weight=1 / 3)
    for n in range(12):
        customer = make_customer()
        Customer.objects.filter(pk=customer.pk).update(created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        for days in range(n % 4):
            when = dt.datetime.combine(AS_OF - dt.timedelta(days=7 * days + n), dt.time(9), tzinfo=dt.UTC)
            outcome = ("reached", "no_answer", "voicemail", "at_risk")[(n + days) % 4]
            make_touchpoint(customer=customer, status="done", outcome=outcome, completed_at=when, due_on=when.date())

    def score(in_database: bool) -> None:
        monkeypatch.setattr(health_in_sql, "has_sql", lambda scorer: in_database)
        assert health_score_day(as_of=AS_OF, chunk_size=5).scored == 12

    score(first_in_database)
    before = _written()
    assert len(before) == 12
    score(not first_in_database)
    assert _written() == before


def test_a_kind_without_an_sql_form_is_scored_in_python_with_the_others(monkeypatch):
    """An integrator's kind with no SQL form yet: the nightly run on PostgreSQL scores in Python."""
    kind = MeasureKind(
        key="always_forty",
        label="Always forty",
        description="A kind registered without an SQL form.",
        defaults={},
        score=lambda facts, params: Points(40, "Forty, always"),
    )
    monkeypatch.setitem(MEASURE_KINDS, kind.key, kind)
    HealthMeasure.objects.create(name="Forty", kind=kind.key, weight=1.0, position=99)
    customer = make_customer()
    Customer.objects.filter(pk=customer.pk).update(created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert not has_sql(Scorer.of(HealthMeasure.objects.specs()))

    assert health_score_day(as_of=AS_OF).scored == 1

    lines = {line["name"]: line for line in current_score(customer).lines()}
    assert (lines["Forty"]["points"], lines["Forty"]["reason"]) == (40, "Forty, always")
    assert lines["Recency"]["points"] is not None
