"""The tests' at_once helper: results in order, expected errors returned, others raised."""

from __future__ import annotations

import threading

import pytest

from tests.support.concurrency import at_once


def test_the_calls_run_together_and_their_results_come_back_in_order():
    inside = threading.Barrier(3, timeout=5)  # only passes if all three run at the same time

    def call(n: int):
        return lambda: (inside.wait(), n)[1]

    assert at_once(call(1), call(2), call(3)) == [1, 2, 3]


def test_an_expected_error_is_a_result_and_any_other_is_raised():
    def lookup() -> int:
        raise KeyError("missing")

    def divide() -> float:
        return 1 / 0

    results = at_once(lookup, lambda: 7, expected=(KeyError,))
    assert isinstance(results[0], KeyError) and results[1] == 7
    with pytest.raises(ZeroDivisionError):
        at_once(divide, lambda: 7)
