"""The score: the weighted mean of the measures that have data, its band, and an override.

A measure without data is left out and the weights of the others renormalised ("3 of 5
measures"). Each measure's *effect* is what it takes off a perfect 100: its share of the weights
times (points - 100). The effects add up to score - 100, so the "why" panel explains the whole
score: "No answer on the last 3 calls: -15".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Generic, TypeVar

from campaigns.scoring.measures import Facts, MeasureKind, Points, measure_kind

RED = "red"
YELLOW = "yellow"
GREEN = "green"
BANDS = (RED, YELLOW, GREEN)

T = TypeVar("T")
U = TypeVar("U")


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

    def stored(self) -> list[Any]:
        """The line as a day's snapshot keeps it: ``[measure, weight, points, reason]``. The name
        comes from the measure row when shown, the effect from the weights (``stored_lines``): a
        snapshot stays small, and the nightly run writes one per customer."""
        return [self.measure_id, self.weight, self.points, self.reason]


def measure_name(names: Mapping[int, str], measure: int) -> str:
    """A measure's name for a stored score, or what it was when the measure has been deleted since."""
    return names.get(measure, f"(deleted measure {measure})")


def stored_lines(stored: Iterable[Sequence[Any]], names: Mapping[int, str]) -> tuple[Line, ...]:
    """The lines of a stored score (``Line.stored``), named by ``names`` (measure id -> name), each
    effect computed as when it was scored: the stored weights are the ones it was scored with. A day
    scored before the snapshots kept the reasons holds points only (see snapshot_points): its lines
    have no reason, and no weight to take an effect from."""
    rows = [
        (int(measure), float(weight), points, str(reason))
        for measure, weight, points, reason in (_line_of(item) for item in stored)
    ]
    total_weight = sum(weight for _, weight, points, _ in rows if points is not None and weight > 0)
    return tuple(
        Line(
            measure_id=measure,
            name=measure_name(names, measure),
            weight=weight,
            points=points,
            reason=reason,
            effect=weight / total_weight * (points - 100)
            if points is not None and weight > 0 and total_weight
            else 0.0,
        )
        for measure, weight, points, reason in rows
    )


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
        return combine((spec, kind.score(facts.only(kind.reads), params)) for spec, kind, params in self.measures)

    def for_rows(
        self,
        *,
        as_of: dt.date,
        columns: Sequence[str],
        encode: Callable[[Line], T],
        join: Callable[[tuple[T, ...]], U],
    ) -> ChunkScorer[T, U]:
        return ChunkScorer(self, as_of=as_of, columns=columns, encode=encode, join=join)


_UNSEEN: Any = object()


def _values_of(positions: list[int]) -> Callable[[Sequence[Any]], Any]:
    """A row's values at the positions: one value for one position, else a tuple (itemgetter's way)."""
    if not positions:
        return lambda row: ()
    return itemgetter(*positions)


class ChunkScorer(Generic[T, U]):
    """Scores the rows of one day's facts (tuples in the order of ``columns``), many customers at
    once, with the same functions as Scorer, skipping the repeats: each kind's points are
    remembered by the values of the facts it reads (MeasureKind.reads), a measure's line and
    ``encode(line)`` (what the caller writes of it, such as its JSON) by its points and the weight
    they count against, and the score with ``join`` of its encoded lines by the points of all
    measures. Most customers share their call outcomes, renewal or tickets with others, many the
    whole set of points. One per chunk: what it remembers is dropped with it.

    Equal points are kept as one object (interned), so the score is remembered by the identities
    of its points: a tuple of ints hashes in C, a tuple of dataclasses in Python, per customer."""

    def __init__(
        self,
        scorer: Scorer,
        *,
        as_of: dt.date,
        columns: Sequence[str],
        encode: Callable[[Line], T],
        join: Callable[[tuple[T, ...]], U],
    ) -> None:
        position = {name: i for i, name in enumerate(columns)}
        missing = sorted({name for _, kind, _ in scorer.measures for name in kind.reads} - set(position))
        if missing:
            raise ValueError(f"the facts have no column {', '.join(missing)}")
        self.as_of = as_of
        self.specs = tuple(spec for spec, _, _ in scorer.measures)
        self._encode = encode
        self._join = join
        # Per measure: the kind, its parameters, the facts it reads, their values' getter, what it gave.
        self._kinds: list[tuple[MeasureKind, Mapping[str, float], tuple[str, ...], Callable[..., Any], dict[Any, Any]]]
        self._kinds = [
            (kind, params, kind.reads, _values_of([position[name] for name in kind.reads]), {})
            for _, kind, params in scorer.measures
        ]
        self._interned: dict[Points, Points] = {}
        self._lines: dict[tuple[int, int, float], tuple[Line, T]] = {}
        self._scores: dict[tuple[int, ...], tuple[Score, U]] = {}

    def __call__(self, row: Sequence[Any]) -> tuple[Score, U]:
        """The row's score and its encoded lines joined."""
        results: list[Points | None] = []
        for kind, params, names, values_of, seen in self._kinds:
            key = values_of(row)  # one value, or a tuple of them
            points = seen.get(key, _UNSEEN)
            if points is _UNSEEN:
                values = dict(zip(names, key if len(names) != 1 else (key,), strict=True))
                points = kind.score(Facts(as_of=self.as_of, values=values), params)
                if points is not None:
                    points = self._interned.setdefault(points, points)
                seen[key] = points
            results.append(points)
        key = tuple(map(id, results))
        scored = self._scores.get(key)
        if scored is None:
            scored = self._scores[key] = self._combined(results)
        return scored

    def _combined(self, results: list[Points | None]) -> tuple[Score, U]:
        """combine() for one set of points, in one pass: the same sums in the same order (so the
        same floats) as counted_weight and weighted, without their intermediate lists."""
        total_weight: float = 0
        weighted_sum: float = 0
        used = 0
        for spec, p in zip(self.specs, results, strict=True):
            if p is not None and spec.weight > 0:
                total_weight += spec.weight
                weighted_sum += spec.weight * p.points
                used += 1
        value = max(0, min(100, int(weighted_sum / total_weight + 0.5))) if used and total_weight > 0 else None
        done: list[Line] = []
        encoded: list[T] = []
        for n, (spec, p) in enumerate(zip(self.specs, results, strict=True)):
            made, code = self._line(n, spec, p, total_weight)
            done.append(made)
            encoded.append(code)
        return Score(score=value, used=used, total=len(results), lines=tuple(done)), self._join(tuple(encoded))

    def _line(self, n: int, spec: MeasureSpec, p: Points | None, total_weight: float) -> tuple[Line, T]:
        key = (n, id(p), total_weight)
        done = self._lines.get(key)
        if done is None:
            made = line(spec, p, total_weight)
            done = self._lines[key] = (made, self._encode(made))
        return done


def score(facts: Facts, measures: Iterable[MeasureSpec]) -> Score:
    return Scorer.of(measures)(facts)


def counted_weight(results: Iterable[tuple[MeasureSpec, Points | None]]) -> float:
    """The weights of the measures with data: what each one's share is out of."""
    return sum(spec.weight for spec, p in results if p is not None and spec.weight > 0)


def line(spec: MeasureSpec, p: Points | None, total_weight: float) -> Line:
    """A measure's line in a score whose counted weights add up to total_weight."""
    share = spec.weight / total_weight if p is not None and spec.weight > 0 and total_weight else 0.0
    return Line(
        measure_id=spec.id,
        name=spec.name,
        weight=spec.weight,
        points=None if p is None else p.points,
        reason="No data" if p is None else p.reason,
        effect=0.0 if p is None else share * (p.points - 100),
    )


def combine(results: Iterable[tuple[MeasureSpec, Points | None]]) -> Score:
    results = list(results)
    total_weight = counted_weight(results)
    lines = tuple(line(spec, p, total_weight) for spec, p in results)
    counted = [(spec, p) for spec, p in results if p is not None and spec.weight > 0]
    value = weighted((spec.weight, p.points) for spec, p in counted)
    return Score(score=value, used=len(counted), total=len(results), lines=lines)


def _line_of(item: Any) -> tuple[Any, Any, Any, Any]:
    """A stored line as (measure, weight, points, reason), whichever shape it was stored in (see
    snapshot_points); the older shapes have no weight (0) and no reason."""
    if isinstance(item, Mapping):
        return item["measure"], 0.0, item.get("points"), ""
    if len(item) == 2:
        return item[0], 0.0, item[1], ""
    measure, weight, points, reason = item
    return measure, weight, points, reason


def snapshot_points(stored: Iterable[Any]) -> list[tuple[int, int | None]]:
    """A snapshot's points as (measure id, points) pairs. Stored as lines (``Line.stored``: measure,
    weight, points, reason); days scored before the snapshots kept the reasons (campaigns 0033) hold
    ``[measure, points]`` pairs, and those before the pairs (December 2026) ``{"measure": m,
    "points": p}`` objects: history is not rewritten, a year of it is hundreds of millions of rows."""
    return [(int(measure), points) for measure, _, points, _ in (_line_of(item) for item in stored)]


def rescore(points: Iterable[Any], weights: Mapping[int, float]) -> int | None:
    """A snapshot's measure points (as stored: see snapshot_points) under other weights (the
    backtest's second weighting). A measure missing from ``weights`` keeps no weight."""
    return weighted((weights.get(measure, 0.0), value) for measure, value in snapshot_points(points))


def effective(computed: int | None, override: int | None) -> int | None:
    """An override in force replaces the computed score."""
    return override if override is not None else computed
