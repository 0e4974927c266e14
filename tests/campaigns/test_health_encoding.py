"""The nightly scoring writes each measure's line as JSON text built by hand (for speed): it must
be what json.dumps writes, for any line."""

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
    assert detail == json.dumps(line.stored())
    assert json.loads(detail)[3] == line.reason


def test_quotes_backslashes_and_non_ascii_in_a_reason_stay_valid_json() -> None:
    reason = 'No answer \\ "é" ✓'
    line = Line(measure_id=3, name="Calls", weight=2.5, points=40, reason=reason, effect=-12.34)
    detail = _encoded(line)
    assert json.loads(detail) == [3, 2.5, 40, reason]
