"""Proportions and their 95% confidence intervals, for the retention report (pure).

Wilson's score interval for one proportion behaves well for small groups and for rates near 0
or 1, where the textbook normal interval runs outside [0, 1]. The difference of two independent
proportions uses Newcombe's hybrid score interval (method 10 of Newcombe, Statistics in Medicine
1998), built from the two Wilson intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Proportion:
    successes: int
    total: int

    def __post_init__(self) -> None:
        if self.total < 0 or not 0 <= self.successes <= self.total:
            raise ValueError(f"{self.successes} of {self.total} is not a proportion")

    @property
    def rate(self) -> float | None:
        return self.successes / self.total if self.total else None

    def wilson(self, z: float = Z_95) -> Interval | None:
        """The score interval; None for an empty group."""
        n = self.total
        if n == 0:
            return None
        p = self.successes / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
        return Interval(max(0.0, centre - half), min(1.0, centre + half))


def difference_interval(first: Proportion, second: Proportion, z: float = Z_95) -> Interval | None:
    """Newcombe's interval for first.rate - second.rate; None when either group is empty."""
    p1, p2 = first.rate, second.rate
    i1, i2 = first.wilson(z), second.wilson(z)
    if p1 is None or p2 is None or i1 is None or i2 is None:
        return None
    d = p1 - p2
    low = d - math.sqrt((p1 - i1.low) ** 2 + (i2.high - p2) ** 2)
    high = d + math.sqrt((i1.high - p1) ** 2 + (p2 - i2.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))
