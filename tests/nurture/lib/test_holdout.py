import random

import pytest

from nurture.lib.holdout import MAX_HOLDOUT_PERCENT, draw_holdout


def test_nobody_is_held_out_at_zero_percent():
    assert not any(draw_holdout(0) for _ in range(1000))


@pytest.mark.parametrize("percent", [5, 20, 50])
def test_about_the_percentage_is_held_out(percent):
    rng = random.Random(percent)
    draws = 20_000
    held = sum(draw_holdout(percent, rng=rng) for _ in range(draws))
    expected = draws * percent / 100
    # Four standard deviations of a binomial: a fair draw stays well inside.
    spread = 4 * (draws * percent / 100 * (1 - percent / 100)) ** 0.5
    assert abs(held - expected) < spread


@pytest.mark.parametrize("percent", [-1, MAX_HOLDOUT_PERCENT + 1, 100])
def test_a_percentage_out_of_range_is_refused(percent):
    with pytest.raises(ValueError, match="between 0 and 50"):
        draw_holdout(percent)
