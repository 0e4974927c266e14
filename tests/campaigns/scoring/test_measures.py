"""Each measure kind as a table: facts and parameters in, points and reason out (no database)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaigns.scoring.measures import MEASURE_KINDS, Facts, Points, measure_kind

AS_OF = dt.date(2025, 3, 10)


def days_ago(n: int) -> dt.datetime:
    return dt.datetime.combine(AS_OF - dt.timedelta(days=n), dt.time(12), tzinfo=dt.UTC)


def points(kind: str, params: dict[str, Any] | None = None, **values: Any) -> Points | None:
    measure = measure_kind(kind)
    # A kind is given only the facts it declares (MeasureKind.reads): a table row naming another
    # fact is a kind that reads more than it declares.
    assert set(values) <= set(measure.reads), f"{kind} does not read {sorted(set(values) - set(measure.reads))}"
    return measure.score(Facts(as_of=AS_OF, values=values), measure.params(params))


@pytest.mark.parametrize(
    ("values", "expected", "reason"),
    [
        ({"last_touch_at": days_ago(10)}, 100, "Last completed touch 10 days ago (rhythm 90 days)"),
        ({"last_touch_at": days_ago(90)}, 100, "Last completed touch 90 days ago (rhythm 90 days)"),
        # Beyond one rhythm the points fall linearly to 0 at three rhythms (270 days).
        ({"last_touch_at": days_ago(180)}, 50, "Last completed touch 180 days ago (rhythm 90 days)"),
        ({"last_touch_at": days_ago(270)}, 0, "Last completed touch 270 days ago (rhythm 90 days)"),
        ({"last_touch_at": days_ago(400)}, 0, "Last completed touch 400 days ago (rhythm 90 days)"),
        # Never touched: counted from the day the customer was added.
        ({"customer_since": days_ago(135)}, 75, "Never touched in the 135 days since they were added"),
        # SQLite returns timestamps as text.
        ({"last_touch_at": "2025-03-09 08:00:00"}, 100, "Last completed touch 1 day ago (rhythm 90 days)"),
        # An activity in another channel is a contact too: the later of the two counts.
        (
            {"last_touch_at": days_ago(180), "last_activity_at": days_ago(20)},
            100,
            "Last activity 20 days ago (rhythm 90 days)",
        ),
        (
            {"last_touch_at": days_ago(180), "last_activity_at": days_ago(200)},
            50,
            "Last completed touch 180 days ago (rhythm 90 days)",
        ),
        (
            {"last_activity_at": days_ago(180), "customer_since": days_ago(400)},
            50,
            "Last activity 180 days ago (rhythm 90 days)",
        ),
        # The same day for both: the touch is named.
        (
            {"last_touch_at": days_ago(3), "last_activity_at": days_ago(3)},
            100,
            "Last completed touch 3 days ago (rhythm 90 days)",
        ),
    ],
)
def test_recency(values, expected, reason):
    assert points("recency", **values) == Points(expected, reason)


def test_recency_follows_its_rhythm_parameter():
    # 15 days past a 30-day rhythm, of the 60 until 0 points.
    assert points("recency", {"rhythm_days": 30}, last_touch_at=days_ago(45)) == Points(
        75, "Last completed touch 45 days ago (rhythm 30 days)"
    )


def test_recency_without_any_date_has_no_data():
    assert points("recency") is None


@pytest.mark.parametrize(
    ("counts", "streak", "expected", "reason"),
    [
        ({}, 0, None, None),
        ({"calls_reached": 4}, 0, 100, "4 calls in 90 days: 4 reached"),
        ({"calls_reached": 1, "calls_no_answer": 1}, 0, 65, "2 calls in 90 days: 1 reached, 1 no answer"),
        ({"calls_voicemail": 1}, 0, 60, "1 call in 90 days: 1 voicemail"),
        ({"calls_at_risk": 1, "calls_reached": 1}, 0, 50, "2 calls in 90 days: 1 reached, 1 at risk"),
        ({"calls_reached": 1, "calls_no_answer": 3}, 3, 48, "No answer on the last 3 calls"),
    ],
)
def test_call_outcomes(counts, streak, expected, reason):
    result = points("call_outcomes", no_answer_streak=streak, **counts)
    assert result == (None if expected is None else Points(expected, reason))


def test_call_outcomes_weights_are_parameters():
    assert points("call_outcomes", {"no_answer": 0}, calls_no_answer=2).points == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, None),
        ({"last_call_at": days_ago(5)}, Points(100, "No open 'at risk'")),
        (
            {"last_call_at": days_ago(5), "last_at_risk_at": days_ago(5)},
            Points(0, "Found at risk on 2025-03-05, not reached since"),
        ),
        (
            {"last_call_at": days_ago(5), "last_at_risk_at": days_ago(20), "last_reached_at": days_ago(5)},
            Points(100, "No open 'at risk'"),
        ),
        (
            {"last_call_at": days_ago(5), "last_at_risk_at": days_ago(5), "last_reached_at": days_ago(20)},
            Points(0, "Found at risk on 2025-03-05, not reached since"),
        ),
    ],
)
def test_open_at_risk(values, expected):
    assert points("at_risk", **values) == expected


@pytest.mark.parametrize(
    ("renewal_in", "expected"),
    [
        (None, None),
        (200, Points(100, "Renewal in 200 days")),
        (90, Points(100, "Renewal in 90 days")),
        (45, Points(70, "Renewal in 45 days")),
        (0, Points(40, "Renewal in 0 days")),
        (1, Points(41, "Renewal in 1 day")),
    ],
)
def test_renewal(renewal_in, expected):
    values: dict[str, Any] = {} if renewal_in is None else {"next_renewal_on": AS_OF + dt.timedelta(days=renewal_in)}
    assert points("renewal", **values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, None),
        ({"cards_mailed": 3}, Points(100, "No card returned (3 cards mailed)")),
        ({"cards_mailed": 3, "cards_returned": 1}, Points(60, "1 card returned undeliverable in the last year")),
        ({"cards_mailed": 5, "cards_returned": 3}, Points(0, "3 cards returned undeliverable in the last year")),
        (
            {"cards_mailed": 5, "address_undeliverable_on": dt.date(2025, 2, 1)},
            Points(0, "Address undeliverable since 2025-02-01"),
        ),
        ({"address_undeliverable_on": "2025-02-01"}, Points(0, "Address undeliverable since 2025-02-01")),
    ],
)
def test_returned_cards(values, expected):
    assert points("returned_cards", **values) == expected


@pytest.mark.parametrize(
    ("answer", "answered_days_ago", "expected"),
    [
        (None, None, None),
        (0, 10, Points(0, "NPS 0 (detractor) on 2025-02-28")),
        (6, 10, Points(0, "NPS 6 (detractor) on 2025-02-28")),
        (7, 10, Points(70, "NPS 7 (passive) on 2025-02-28")),
        (8, 10, Points(70, "NPS 8 (passive) on 2025-02-28")),
        (9, 10, Points(100, "NPS 9 (promoter) on 2025-02-28")),
        (10, 365, Points(100, "NPS 10 (promoter) on 2024-03-10")),
        # Older than a year: it no longer says how the customer feels.
        (3, 366, None),
    ],
)
def test_nps(answer, answered_days_ago, expected):
    values: dict[str, Any] = {}
    if answer is not None:
        values = {"nps_score": answer, "nps_at": days_ago(answered_days_ago)}
    assert points("nps", **values) == expected


def test_nps_points_and_age_are_parameters():
    assert points("nps", {"detractor": 20, "max_age_days": 30}, nps_score=4, nps_at=days_ago(30)) == Points(
        20, "NPS 4 (detractor) on 2025-02-08"
    )
    assert points("nps", {"max_age_days": 30}, nps_score=4, nps_at=days_ago(31)) is None
    # SQLite returns timestamps as text.
    assert points("nps", nps_score=9, nps_at="2025-03-01 09:30:00") == Points(100, "NPS 9 (promoter) on 2025-03-01")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, None),
        ({"tickets_total": 0, "tickets_recent": 0}, None),
        ({"tickets_total": 4}, Points(100, "No support ticket in 90 days")),
        ({"tickets_total": 4, "tickets_recent": 1}, Points(75, "1 support ticket in 90 days")),
        ({"tickets_total": 4, "tickets_recent": 3}, Points(25, "3 support tickets in 90 days")),
        ({"tickets_total": 9, "tickets_recent": 5}, Points(0, "5 support tickets in 90 days")),
    ],
)
def test_support_tickets(values, expected):
    assert points("support_tickets", **values) == expected


def test_support_tickets_cost_their_parameter():
    assert points("support_tickets", {"points_per_ticket": 10}, tickets_total=2, tickets_recent=2) == Points(
        80, "2 support tickets in 90 days"
    )


def test_every_kind_has_a_label_a_description_and_defaults():
    assert set(MEASURE_KINDS) >= {
        "recency",
        "call_outcomes",
        "at_risk",
        "renewal",
        "returned_cards",
        "nps",
        "support_tickets",
    }
    for kind in MEASURE_KINDS.values():
        assert kind.label and kind.description
        assert kind.params({}) == dict(kind.defaults)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rhythm": 30}, "unknown parameter 'rhythm' (known: rhythm_days, zero_after)"),
        ({"rhythm_days": "thirty"}, "parameter 'rhythm_days' must be a number"),
        ({"rhythm_days": True}, "parameter 'rhythm_days' must be a number"),
        ({"rhythm_days": -1}, "parameter 'rhythm_days' must not be negative"),
        ({"rhythm_days": float("inf")}, "parameter 'rhythm_days' must be a finite number, not inf"),
        ({"zero_after": float("nan")}, "parameter 'zero_after' must be a finite number, not nan"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        measure_kind("recency").params(params)


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown measure kind 'sentiment'; known: at_risk, call_outcomes"):
        measure_kind("sentiment")


def test_points_outside_0_100_are_refused():
    with pytest.raises(ValueError, match="between 0 and 100"):
        Points(101, "too good")
