"""The nightly scoring writes each measure's line as JSON text built by hand (for speed): valid JSON
of the line, and the text json.dumps writes (but for numbers, never with an exponent, as
PostgreSQL writes them: tests/campaigns/test_health_in_sql.py holds the two paths to one text)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from campaigns.scoring.combine import Line
from campaigns.services.health import _encoded

lines = st.builds(
    Line,
    measure_id=st.integers(min_value=1, max_value=2**31 - 1),
    name=st.text(max_size=80),
    weight=st.one_of(
        st.integers(min_value=0, max_value=1000),
        st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False),
    ),
    points=st.one_of(st.none(), st.integers(min_value=0, max_value=100)),
    reason=st.text(max_size=200),
    effect=st.floats(min_value=-100, max_value=0, allow_nan=False, allow_infinity=False),
)


@given(lines)
def test_a_line_is_encoded_as_json_dumps_writes_it(line: Line) -> None:
    detail = _encoded(line)
    assert json.loads(detail) == line.stored()
    if "e" not in repr(line.weight):
        assert detail == json.dumps(line.stored(), ensure_ascii=False)
    assert json.loads(detail)[3] == line.reason


def test_quotes_backslashes_and_non_ascii_in_a_reason_stay_valid_json() -> None:
    reason = 'No answer \\ "é" ✓'
    line = Line(measure_id=3, name="Calls", weight=2.5, points=40, reason=reason, effect=-12.34)
    detail = _encoded(line)
    assert json.loads(detail) == [3, 2.5, 40, reason]


def test_a_weight_is_written_without_an_exponent_as_postgresql_writes_a_numeric() -> None:
    line = Line(measure_id=1, name="Recency", weight=1e-09, points=None, reason="No data", effect=0.0)
    assert _encoded(line) == '[1, 0.000000001, null, "No data"]'
    assert _encoded(Line(measure_id=2, name="Calls", weight=-0.0, points=5, reason="", effect=0.0)).startswith(
        "[2, 0.0,"
    )
