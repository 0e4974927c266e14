"""The score's arithmetic: weighted mean of the measures with data, renormalised; bands; overrides."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.scoring.combine import (
    Limits,
    Line,
    MeasureSpec,
    Scorer,
    combine,
    effective,
    rescore,
    score,
    snapshot_points,
    stored_lines,
    weighted,
)
from campaigns.scoring.measures import MEASURE_KINDS, Facts, MeasureKind, Points


def spec(n: int, weight: float) -> MeasureSpec:
    return MeasureSpec(id=n, kind="recency", name=f"m{n}", weight=weight, params={})


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([(1, 100), (1, 0)], 50),
        ([(3, 100), (1, 0)], 75),
        # A measure without data is dropped and the others renormalised.
        ([(3, 100), (1, None)], 100),
        ([(1, 80), (1, None), (2, 20)], 40),
        # A weight of 0 leaves a measure out.
        ([(0, 0), (1, 70)], 70),
        # Nothing with data, or no weight at all: no score.
        ([(1, None), (2, None)], None),
        ([(0, 50)], None),
        ([], None),
        # Halves round up.
        ([(1, 50), (1, 51)], 51),
    ],
)
def test_weighted_mean(pairs, expected):
    assert weighted(pairs) == expected


def test_combine_counts_the_measures_with_data_and_explains_each():
    result = combine(
        [
            (spec(1, 2), Points(100, "fine")),
            (spec(2, 1), Points(40, "No answer on the last 3 calls")),
            (spec(3, 1), None),
            (spec(4, 1), Points(70, "meh")),
        ]
    )
    # Measure 3 has no data: the weights of the other three (2 + 1 + 1) share the score.
    assert result.score == 78  # (2 * 100 + 40 + 70) / 4 = 77.5, rounded up
    assert (result.used, result.total) == (3, 4)
    lines = {line.measure_id: line for line in result.lines}
    assert lines[2].effect == pytest.approx(-15)  # a quarter of the weights, 60 points short
    assert lines[3].reason == "No data" and lines[3].points is None and lines[3].effect == 0
    # The effects explain the whole score: 100 plus the effects.
    assert 100 + sum(line.effect for line in result.lines) == pytest.approx(77.5)


@pytest.mark.parametrize(
    ("value", "band"),
    [(0, "red"), (49, "red"), (50, "yellow"), (74, "yellow"), (75, "green"), (100, "green")],
)
def test_default_bands(value, band):
    assert Limits().band(value) == band


def test_edited_bands():
    limits = Limits(red_below=30, green_from=90)
    assert [limits.band(v) for v in (29, 30, 89, 90)] == ["red", "yellow", "yellow", "green"]


@pytest.mark.parametrize(("red", "green"), [(80, 70), (-1, 50), (50, 101)])
def test_band_limits_must_be_ordered(red, green):
    with pytest.raises(ValueError, match="band limits"):
        Limits(red_below=red, green_from=green)


@pytest.mark.parametrize(
    ("computed", "override", "expected"), [(40, None, 40), (40, 90, 90), (None, 10, 10), (None, None, None)]
)
def test_an_override_replaces_the_computed_score(computed, override, expected):
    assert effective(computed, override) == expected


@pytest.mark.parametrize(
    "stored",
    [
        [[1, 100], [2, 0], [3, None]],
        # As snapshots held them before the pairs: they are read as they are, never rewritten.
        [{"measure": 1, "points": 100}, {"measure": 2, "points": 0}, {"measure": 3, "points": None}],
    ],
)
def test_rescore_with_other_weights_from_stored_points(stored: list[Any]):
    assert snapshot_points(stored) == [(1, 100), (2, 0), (3, None)]
    assert rescore(stored, {1: 1, 2: 1, 3: 5}) == 50
    assert rescore(stored, {1: 3, 2: 1}) == 75
    assert rescore(stored, {2: 1}) == 0
    assert rescore(stored, {}) is None


facts = st.fixed_dictionaries(
    {},
    optional={
        "last_touch_at": st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 1, 1)),
        "customer_since": st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 1, 1)),
        "last_call_at": st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 1, 1)),
        "last_at_risk_at": st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 1, 1)),
        "last_reached_at": st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 1, 1)),
        "calls_reached": st.integers(0, 1000),
        "calls_voicemail": st.integers(0, 1000),
        "calls_no_answer": st.integers(0, 1000),
        "calls_at_risk": st.integers(0, 1000),
        "no_answer_streak": st.integers(0, 1000),
        "next_renewal_on": st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 1, 1)),
        "cards_mailed": st.integers(0, 100),
        "cards_returned": st.integers(0, 100),
        "address_undeliverable_on": st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 1, 1)),
        "last_activity_at": st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 1, 1)),
        "nps_score": st.integers(0, 10),
        "nps_at": st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 1, 1)),
        "tickets_recent": st.integers(0, 100),
        "tickets_total": st.integers(0, 200),
    },
)
param_values = st.one_of(st.integers(0, 10_000), st.floats(0, 10_000, allow_nan=False))


@st.composite
def measure_specs(draw: Any) -> list[MeasureSpec]:
    specs = []
    for n, (key, kind) in enumerate(sorted(MEASURE_KINDS.items())):
        params = {name: draw(param_values) for name in kind.defaults if draw(st.booleans())}
        weight = draw(st.floats(0, 1000, allow_nan=False))
        specs.append(MeasureSpec(id=n, kind=key, name=key, weight=weight, params=params))
    return specs


@given(
    values=facts, measures=measure_specs(), as_of=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2035, 1, 1))
)
def test_scores_stay_between_0_and_100(values, measures, as_of):
    result = score(Facts(as_of=as_of, values=values), measures)
    assert result.score is None or 0 <= result.score <= 100
    assert 0 <= result.used <= result.total == len(measures)
    for line in result.lines:
        assert line.points is None or 0 <= line.points <= 100
        assert -100 <= line.effect <= 0
    assert (result.score is None) == (result.used == 0)


@given(
    values=facts, measures=measure_specs(), as_of=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2035, 1, 1))
)
def test_a_stored_score_gives_back_its_lines_names_and_effects_included(values, measures, as_of):
    result = score(Facts(as_of=as_of, values=values), measures)
    stored = json.loads(json.dumps([line.stored() for line in result.lines]))  # as the database keeps it
    names = {spec.id: spec.name for spec in measures}
    assert stored_lines(stored, names) == result.lines


def test_a_stored_line_of_a_deleted_measure_is_named_as_such():
    [line] = stored_lines([[7, 1.0, 40, "Renewal in 3 days"]], {})
    assert (line.name, line.points, line.effect) == ("(deleted measure 7)", 40, -60.0)


AS_OF = dt.date(2025, 3, 10)
COLUMNS = sorted({name for kind in MEASURE_KINDS.values() for name in kind.reads})


def as_row(values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values.get(name) for name in COLUMNS)


@given(
    customers=st.lists(facts, min_size=1, max_size=30),
    measures=measure_specs(),
    as_of=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2035, 1, 1)),
)
def test_a_chunk_scorer_scores_every_row_as_the_scorer_does(customers, measures, as_of):
    scorer = Scorer.of(measures)
    chunk = scorer.for_rows(as_of=as_of, columns=COLUMNS, encode=lambda line: line.reason, join=list)
    # Every row twice: the second time from what was remembered.
    for values in customers + customers:
        expected = scorer(Facts(as_of=as_of, values=values))
        assert chunk(as_row(values)) == (expected, [line.reason for line in expected.lines])


def counting_kind(seen: list[dict[str, Any]]) -> MeasureKind:
    """A kind reading the call outcomes that records each call and the facts it was given."""
    original = MEASURE_KINDS["call_outcomes"]

    def counted(facts: Facts, params: Any) -> Points | None:
        seen.append(dict(facts.values))
        return original.score(facts, params)

    return replace(original, score=counted)


def test_a_chunk_scorer_remembers_points_by_the_facts_a_kind_reads():
    seen: list[dict[str, Any]] = []
    encoded: list[int | None] = []

    def encode(line: Line) -> int | None:
        encoded.append(line.points)
        return line.points

    kind = counting_kind(seen)
    spec = MeasureSpec(id=1, kind=kind.key, name="Calls", weight=1, params={})
    chunk = Scorer(((spec, kind, kind.params({})),)).for_rows(as_of=AS_OF, columns=COLUMNS, encode=encode, join=tuple)
    for renewal in (AS_OF, AS_OF + dt.timedelta(days=3)):  # a fact call outcomes does not read
        assert chunk(as_row({"calls_reached": 2, "next_renewal_on": renewal}))[1] == (100,)
    assert chunk(as_row({"calls_no_answer": 1}))[0].score == 30
    assert [facts["calls_reached"] for facts in seen] == [2, None]
    assert encoded == [100, 30]


def test_a_kind_sees_only_the_facts_it_reads():
    seen: list[dict[str, Any]] = []
    kind = counting_kind(seen)
    spec = MeasureSpec(id=1, kind=kind.key, name="Calls", weight=1, params={})
    Scorer(((spec, kind, kind.params({})),))(Facts(as_of=AS_OF, values={"calls_reached": 3, "next_renewal_on": AS_OF}))
    assert [set(facts) for facts in seen] == [set(kind.reads)]
    assert seen[0]["calls_reached"] == 3


def test_a_chunk_scorer_names_a_fact_the_statement_lacks():
    measures = [MeasureSpec(id=1, kind="nps", name="NPS", weight=1, params={})]
    with pytest.raises(ValueError, match="the facts have no column nps_at, nps_score"):
        Scorer.of(measures).for_rows(as_of=AS_OF, columns=["calls_reached"], encode=str, join=tuple)
