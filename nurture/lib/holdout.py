"""The holdout draw: whether a new customer joins the holdout group (pure).

A customer is drawn once, when it is created, and the result is kept for good: the holdout group is
the customers that get no touchpoints, so that the retention report can compare nurtured customers
with customers left alone. The draw uses the operating system's randomness, so nobody can predict
or steer which customers are held out.
"""

from __future__ import annotations

import random

_SYSTEM_RANDOM = random.SystemRandom()

# Half the new customers at most: a larger holdout would leave most customers without touchpoints.
MAX_HOLDOUT_PERCENT = 50


def draw_holdout(percent: int, *, rng: random.Random | None = None) -> bool:
    """True for about `percent` in a hundred draws; always False at 0."""
    if not 0 <= percent <= MAX_HOLDOUT_PERCENT:
        raise ValueError(f"holdout percent {percent} must be between 0 and {MAX_HOLDOUT_PERCENT}")
    if percent == 0:
        return False
    return (rng or _SYSTEM_RANDOM).random() * 100 < percent
