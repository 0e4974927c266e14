import pytest

from nurture.lib.stats import Proportion, difference_interval


@pytest.mark.parametrize(
    ("successes", "total", "low", "high"),
    [
        # Reference values: Newcombe (1998), table I, and R's prop.test(correct = FALSE).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (20, 20, 0.8389, 1.0),
    ],
)
def test_the_wilson_interval_matches_published_values(successes, total, low, high):
    interval = Proportion(successes, total).wilson()
    assert interval is not None
    assert interval.low == pytest.approx(low, abs=1e-4)
    assert interval.high == pytest.approx(high, abs=1e-4)


def test_the_difference_interval_matches_newcombe():
    # Newcombe (1998), table II, example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339.
    interval = difference_interval(Proportion(56, 70), Proportion(48, 80))
    assert interval is not None
    assert interval.low == pytest.approx(0.0524, abs=1e-4)
    assert interval.high == pytest.approx(0.3339, abs=1e-4)


def test_an_empty_group_has_no_rate_and_no_interval():
    empty = Proportion(0, 0)
    assert empty.rate is None and empty.wilson() is None
    assert difference_interval(empty, Proportion(3, 4)) is None


def test_a_count_above_its_total_is_refused():
    with pytest.raises(ValueError, match="5 of 4"):
        Proportion(5, 4)
