"""The score: the weighted mean of the measures that have data, its band, and an override.

A measure without data is left out and the weights of the others renormalised ("3 of 5
measures"). Each measure's *effect* is what it takes off a perfect 100: its share of the weights
times (points - 100). The effects add up to score - 100, so the "why" panel explains the whole
score: "No answer on the last 3 calls: -15".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from campaigns.scoring.measures import Facts, MeasureKind, Points, measure_kind

RED = "red"
YELLOW = "yellow"
GREEN = "green"
BANDS = (RED, YELLOW, GREEN)


@dataclass(frozen=True)
class MeasureSpec:
    """One measure row as plain data."""

    id: int
    kind: str
    name: str
    weight: float
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Limits:
    """Scores below red_below are red; from green_from on green; yellow between."""

    red_below: int = 50
    green_from: int = 75

    def __post_init__(self) -> None:
        if not 0 <= self.red_below <= self.green_from <= 100:
            raise ValueError("band limits must satisfy 0 <= red below <= green from <= 100")

    def band(self, score: int) -> str:
        if score < self.red_below:
            return RED
        return GREEN if score >= self.green_from else YELLOW


@dataclass(frozen=True)
class Line:
    """A measure's part in a score."""

    measure_id: int
    name: str
    weight: float
    points: int | None
    reason: str
    effect: float

    def as_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure_id,
            "name": self.name,
            "weight": self.weight,
            "points": self.points,
            "reason": self.reason,
            "effect": round(self.effect, 1),
        }


@dataclass(frozen=True)
class Score:
    score: int | None
    used: int
    total: int
    lines: tuple[Line, ...]

    @property
    def details(self) -> list[dict[str, Any]]:
        return [line.as_json() for line in self.lines]


def weighted(points: Iterable[tuple[float, int | None]]) -> int | None:
    """The weighted mean of the points that are there, renormalised; None when none is."""
    pairs = [(weight, value) for weight, value in points if value is not None and weight > 0]
    total = sum(weight for weight, _ in pairs)
    if not pairs or total <= 0:
        return None
    mean = sum(weight * value for weight, value in pairs) / total
    return max(0, min(100, int(mean + 0.5)))


@dataclass(frozen=True)
class Scorer:
    """The measures with their kinds and parameters looked up once, to score many customers."""

    measures: tuple[tuple[MeasureSpec, MeasureKind, Mapping[str, float]], ...]

    @classmethod
    def of(cls, measures: Iterable[MeasureSpec]) -> Scorer:
        prepared = []
        for spec in measures:
            kind = measure_kind(spec.kind)
            prepared.append((spec, kind, kind.params(spec.params)))
        return cls(tuple(prepared))

    def __call__(self, facts: Facts) -> Score:
        return combine((spec, kind.score(facts, params)) for spec, kind, params in self.measures)


def score(facts: Facts, measures: Iterable[MeasureSpec]) -> Score:
    return Scorer.of(measures)(facts)


def combine(results: Iterable[tuple[MeasureSpec, Points | None]]) -> Score:
    results = list(results)
    counted = [(spec, p) for spec, p in results if p is not None and spec.weight > 0]
    total_weight = sum(spec.weight for spec, _ in counted)
    lines = []
    for spec, p in results:
        share = spec.weight / total_weight if p is not None and spec.weight > 0 and total_weight else 0.0
        lines.append(
            Line(
                measure_id=spec.id,
                name=spec.name,
                weight=spec.weight,
                points=None if p is None else p.points,
                reason="No data" if p is None else p.reason,
                effect=0.0 if p is None else share * (p.points - 100),
            )
        )
    value = weighted((spec.weight, p.points) for spec, p in counted)
    return Score(score=value, used=len(counted), total=len(results), lines=tuple(lines))


def rescore(details: Iterable[Mapping[str, Any]], weights: Mapping[int, float]) -> int | None:
    """A stored score's measure points under other weights (the backtest's second weighting).
    A measure missing from ``weights`` keeps no weight."""
    return weighted((weights.get(int(line["measure"]), 0.0), line.get("points")) for line in details)


def effective(computed: int | None, override: int | None) -> int | None:
    """An override in force replaces the computed score."""
    return override if override is not None else computed
