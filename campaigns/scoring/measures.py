"""Measure kinds: each scores one customer from 0 to 100 with a reason sentence, or has no data.

A kind is a pure function of the customer's *facts* (named aggregates such as the date of the last
completed touch; campaigns.selectors.health reads them for a whole chunk of customers at once) and
of the measure row's parameters (thresholds an administrator edits). A new signal (a survey, the
use of the product) is one more kind registered here, one more fact source in
campaigns.selectors.health.FACT_SOURCES that reads it, and its SQL form in
campaigns/scoring/in_sql.py (the nightly run on PostgreSQL scores in the database; a kind without a
form is scored here).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Params = Mapping[str, float]


@dataclass(frozen=True)
class Facts:
    """What is known about one customer on a day. ``values`` holds the named aggregates."""

    as_of: dt.date
    values: Mapping[str, Any] = field(default_factory=dict)

    def date(self, name: str) -> dt.date | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value)[:10])

    def int(self, name: str) -> int:
        return int(self.values.get(name) or 0)

    def only(self, names: tuple[str, ...]) -> Facts:
        """These facts and no others: what a measure kind is given (MeasureKind.reads)."""
        return Facts(as_of=self.as_of, values={name: self.values.get(name) for name in names})


@dataclass(frozen=True)
class Points:
    points: int
    reason: str

    def __post_init__(self) -> None:
        if not 0 <= self.points <= 100:
            raise ValueError(f"points must be between 0 and 100, not {self.points}")


@dataclass(frozen=True)
class MeasureKind:
    key: str
    label: str
    description: str
    defaults: Mapping[str, float]
    score: Callable[[Facts, Params], Points | None]
    # The facts the function reads, and the only ones it is given (Facts.only): its points are a
    # function of these values and the day, so scoring many customers remembers them by these values
    # (campaigns.scoring.combine.ChunkScorer).
    reads: tuple[str, ...] = ()

    def params(self, given: Mapping[str, Any] | None) -> dict[str, float]:
        """The defaults overlaid with the given parameters; an unknown or non-number parameter is an error."""
        merged = dict(self.defaults)
        for name, value in (given or {}).items():
            if name not in self.defaults:
                known = ", ".join(sorted(self.defaults)) or "none"
                raise ValueError(f"{self.label}: unknown parameter {name!r} (known: {known})")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{self.label}: parameter {name!r} must be a number, not {value!r}")
            if not math.isfinite(value):
                # JSON allows Infinity and NaN; no threshold means them (and "rhythm inf days" is no sentence).
                raise ValueError(f"{self.label}: parameter {name!r} must be a finite number, not {value!r}")
            if value < 0:
                raise ValueError(f"{self.label}: parameter {name!r} must not be negative")
            merged[name] = float(value)
        return merged


MEASURE_KINDS: dict[str, MeasureKind] = {}


def register(kind: MeasureKind) -> MeasureKind:
    if kind.key in MEASURE_KINDS:
        raise ValueError(f"measure kind {kind.key!r} is registered twice")
    MEASURE_KINDS[kind.key] = kind
    return kind


def measure_kind(key: str) -> MeasureKind:
    try:
        return MEASURE_KINDS[key]
    except KeyError:
        raise ValueError(f"unknown measure kind {key!r}; known: {', '.join(sorted(MEASURE_KINDS))}") from None


def clamp(value: float) -> int:
    """Points as a whole number from 0 to 100 (halves round up)."""
    return max(0, min(100, int(value + 0.5)))


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# --- The built-in kinds ------------------------------------------------------------------------


def _recency(facts: Facts, params: Params) -> Points | None:
    """Days since the last completed touch, against the rhythm: full points within one rhythm,
    none after ``zero_after`` rhythms. A customer never touched counts from the day they were added."""
    rhythm = max(1.0, params["rhythm_days"])
    zero_after = max(1.0, params["zero_after"])
    touch = facts.date("last_touch_at")
    # An activity in another channel (a meeting, an e-mail, a ticket, an NPS answer) is a contact too.
    activity = facts.date("last_activity_at")
    last = max(touch, activity) if touch is not None and activity is not None else touch or activity
    since = last or facts.date("customer_since")
    if since is None:
        return None
    days = max(0, (facts.as_of - since).days)
    points = 100 if days <= rhythm else clamp(100 * (1 - (days - rhythm) / (rhythm * (zero_after - 1) or 1)))
    if last is None:
        return Points(points, f"Never touched in the {_plural(days, 'day')} since they were added")
    what = "completed touch" if last == touch else "activity"
    return Points(points, f"Last {what} {_plural(days, 'day')} ago (rhythm {int(rhythm)} days)")


def _call_outcomes(facts: Facts, params: Params) -> Points | None:
    """The mix of call outcomes in the last 90 days, each outcome worth its points."""
    counts = {
        "reached": facts.int("calls_reached"),
        "voicemail": facts.int("calls_voicemail"),
        "no_answer": facts.int("calls_no_answer"),
        "at_risk": facts.int("calls_at_risk"),
    }
    total = sum(counts.values())
    if total == 0:
        return None
    points = clamp(sum(params[name] * n for name, n in counts.items()) / total)
    streak = facts.int("no_answer_streak")
    if streak >= 2:
        return Points(points, f"No answer on the last {streak} calls")
    words = {"reached": "reached", "voicemail": "voicemail", "no_answer": "no answer", "at_risk": "at risk"}
    parts = [f"{n} {words[name]}" for name, n in counts.items() if n]
    return Points(points, f"{_plural(total, 'call')} in 90 days: {', '.join(parts)}")


def _at_risk(facts: Facts, params: Params) -> Points | None:
    """An open 'at risk': the last call that reached the customer found them at risk."""
    if facts.date("last_call_at") is None:
        return None
    at_risk = facts.date("last_at_risk_at")
    reached = facts.date("last_reached_at")
    if at_risk is not None and (reached is None or reached < at_risk):
        return Points(clamp(params["open_points"]), f"Found at risk on {at_risk.isoformat()}, not reached since")
    return Points(100, "No open 'at risk'")


def _renewal(facts: Facts, params: Params) -> Points | None:
    """Days to the next renewal milestone: full points far off, down to ``floor`` on the day."""
    renewal = facts.date("next_renewal_on")
    if renewal is None:
        return None
    days = max(0, (renewal - facts.as_of).days)
    warn = max(1.0, params["warn_days"])
    floor = params["floor"]
    points = 100 if days >= warn else clamp(floor + (100 - floor) * days / warn)
    return Points(points, f"Renewal in {_plural(days, 'day')}")


def _returned_cards(facts: Facts, params: Params) -> Points | None:
    """Cards that came back undeliverable: each one costs points; an undeliverable address costs all."""
    undeliverable = facts.date("address_undeliverable_on")
    if undeliverable is not None:
        return Points(0, f"Address undeliverable since {undeliverable.isoformat()}")
    mailed = facts.int("cards_mailed")
    returned = facts.int("cards_returned")
    if mailed == 0:
        return None
    if returned == 0:
        return Points(100, f"No card returned ({_plural(mailed, 'card')} mailed)")
    points = clamp(100 - params["points_per_card"] * returned)
    return Points(points, f"{_plural(returned, 'card')} returned undeliverable in the last year")


def _nps(facts: Facts, params: Params) -> Points | None:
    """The latest NPS answer (0-10): detractors (0-6) score low, passives (7-8) between, promoters
    (9-10) high. An answer older than ``max_age_days`` no longer says how the customer feels."""
    answer = facts.values.get("nps_score")
    answered = facts.date("nps_at")
    if answer is None or answered is None:
        return None
    age = (facts.as_of - answered).days
    if age > params["max_age_days"]:
        return None
    answer = int(answer)
    group = "promoter" if answer >= 9 else "passive" if answer >= 7 else "detractor"
    return Points(clamp(params[group]), f"NPS {answer} ({group}) on {answered.isoformat()}")


def _support_tickets(facts: Facts, params: Params) -> Points | None:
    """Support tickets opened in the last 90 days, each one costing points. A customer who never
    opened a ticket has no data (their company may not send its tickets to nurture at all)."""
    if facts.int("tickets_total") == 0:
        return None
    recent = facts.int("tickets_recent")
    if recent == 0:
        return Points(100, "No support ticket in 90 days")
    points = clamp(100 - params["points_per_ticket"] * recent)
    return Points(points, f"{_plural(recent, 'support ticket')} in 90 days")


RECENCY = register(
    MeasureKind(
        key="recency",
        label="Recency of the last touch",
        description=(
            "Days since the last completed call or card, or the last activity in another channel, "
            "against the rhythm of the cadences."
        ),
        defaults={"rhythm_days": 90.0, "zero_after": 3.0},
        score=_recency,
        reads=("last_touch_at", "last_activity_at", "customer_since"),
    )
)
CALL_OUTCOMES = register(
    MeasureKind(
        key="call_outcomes",
        label="Call outcomes (90 days)",
        description="The mix of the outcomes of the calls of the last 90 days, each worth its points.",
        defaults={"reached": 100.0, "voicemail": 60.0, "no_answer": 30.0, "at_risk": 0.0},
        score=_call_outcomes,
        reads=("calls_reached", "calls_voicemail", "calls_no_answer", "calls_at_risk", "no_answer_streak"),
    )
)
AT_RISK = register(
    MeasureKind(
        key="at_risk",
        label="Open 'at risk'",
        description="The last call that reached the customer found them at risk.",
        defaults={"open_points": 0.0},
        score=_at_risk,
        reads=("last_call_at", "last_at_risk_at", "last_reached_at"),
    )
)
RENEWAL = register(
    MeasureKind(
        key="renewal",
        label="Days to renewal",
        description="Days to the next renewal milestone: a renewal close by is a moment of risk.",
        defaults={"warn_days": 90.0, "floor": 40.0},
        score=_renewal,
        reads=("next_renewal_on",),
    )
)
RETURNED_CARDS = register(
    MeasureKind(
        key="returned_cards",
        label="Returned cards",
        description="Cards that came back undeliverable in the last year; an undeliverable address scores 0.",
        defaults={"points_per_card": 40.0},
        score=_returned_cards,
        reads=("address_undeliverable_on", "cards_mailed", "cards_returned"),
    )
)
NPS = register(
    MeasureKind(
        key="nps",
        label="NPS answer",
        description="The latest NPS answer: detractors (0-6) score low, passives (7-8) between, promoters (9-10) high.",
        defaults={"detractor": 0.0, "passive": 70.0, "promoter": 100.0, "max_age_days": 365.0},
        score=_nps,
        reads=("nps_score", "nps_at"),
    )
)
SUPPORT_TICKETS = register(
    MeasureKind(
        key="support_tickets",
        label="Support tickets (90 days)",
        description="Support tickets opened in the last 90 days, each costing points; none ever: no data.",
        defaults={"points_per_ticket": 25.0},
        score=_support_tickets,
        reads=("tickets_recent", "tickets_total"),
    )
)
