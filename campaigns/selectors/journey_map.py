"""A cadence's journey map: its rules on one timeline from the anchor milestone, in stages, with their figures.

``cadence_journey_map()`` lays out, for a server-rendered SVG (templates/admin/campaigns/cadence/
journey_map.svg, inline on the cadence's page and at its own URL), every rule of the cadence at
its offset from day 0 (the milestone), repeats drawn as "every N months" with their next
occurrence, the stages as bands over the steps they hold, and under the axis one box per step
with its figures: touchpoints planned (and overdue), done on time and late, skipped, call
outcomes, cards mailed and returned. The same figures make the table beneath the map.

Live, the figures come from one grouped query per cadence (by rule, status, outcome and card
status), scoped to the customers the user sees (``visible_to``), never a query per step. At scale
the cadence page reads them from the nightly job's stored figures instead
(``step_figures_by_manager()``, the same rows grouped by account manager too, stored per rule,
manager and day; selectors/cadence_figures.py picks stored or live).

The time axis is a square-root scale: the first weeks (a call at +14 days) and the first years
(an anniversary) both stay readable on one line. Negative offsets (before a renewal) sit left of
day 0 on the same scale.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from campaigns.models import Cadence, Card, Rule, Stage, Touchpoint

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    User = AbstractBaseUser | AnonymousUser

# Average lengths, for placing offsets on the axis (the planner uses exact calendar arithmetic).
UNIT_DAYS = {"days": 1.0, "business_days": 1.4, "weeks": 7.0, "months": 30.4375, "years": 365.25}
# Stage colours, by the stage's place in the cadence; steps without a stage are grey.
PALETTE = ("#417690", "#2e7d32", "#b7791f", "#6a4c93", "#c05621", "#00838f", "#ad1457", "#4a5568")
NO_STAGE_COLOR = "#8a8a8a"
NO_STAGE = "No stage"

# Geometry of the SVG (its viewBox; it scales to the page's width).
WIDTH = 960
PLOT_LEFT = 48
PLOT_RIGHT = WIDTH - 40
BANDS_TOP = 14
BAND_HEIGHT = 24
BAND_GAP = 4
AXIS_BELOW_BANDS = 42
BOX_GAP = 10
BOX_MAX_WIDTH = 170
BOX_MIN_WIDTH = 124
LINE_HEIGHT = 14
BOX_PADDING = 10
ROW_GAP = 18
# Labels on the axis closer than this (pixels) to the previous one are left out.
TICK_MIN_GAP = 40
TICKS = (
    (-1826.25, "-5 years"),
    (-730.5, "-2 years"),
    (-365.25, "-1 year"),
    (-182.625, "-6 months"),
    (-91.3125, "-3 months"),
    (-30.4375, "-1 month"),
    (-7.0, "-1 week"),
    (0.0, "day 0"),
    (7.0, "1 week"),
    (14.0, "2 weeks"),
    (30.4375, "1 month"),
    (91.3125, "3 months"),
    (182.625, "6 months"),
    (365.25, "1 year"),
    (730.5, "2 years"),
    (1095.75, "3 years"),
    (1826.25, "5 years"),
    (3652.5, "10 years"),
)


@dataclass(frozen=True)
class StepFigures:
    """What happened to one step's touchpoints (cancelled ones left out: they were never due)."""

    planned: int = 0
    overdue: int = 0
    on_time: int = 0
    late: int = 0
    skipped: int = 0
    reached: int = 0
    voicemail: int = 0
    no_answer: int = 0
    at_risk: int = 0
    mailed: int = 0
    returned: int = 0

    @property
    def done(self) -> int:
        return self.on_time + self.late


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Band:
    stage_id: int | None
    name: str
    color: str
    x: float
    y: float
    width: float


@dataclass(frozen=True)
class Ghost:
    """A later occurrence of a repeating step, drawn faintly."""

    x: float


@dataclass(frozen=True)
class TextLine:
    x: float
    y: float
    text: str
    # stage, name, when, figure: how the template styles it.
    role: str


@dataclass(frozen=True)
class Step:
    rule_id: int
    name: str
    action: str
    active: bool
    when: str
    repeat: str
    stage_id: int | None
    stage_name: str
    color: str
    offset_days: float
    x: float
    figures: StepFigures
    # The figures' box under the axis.
    box_x: float = 0
    box_y: float = 0
    box_width: float = BOX_MAX_WIDTH
    lines: list[TextLine] = field(default_factory=list)
    ghosts: list[Ghost] = field(default_factory=list)

    @property
    def box_center(self) -> float:
        return round(self.box_x + self.box_width / 2, 1)

    @property
    def is_card(self) -> bool:
        return self.action == Rule.Action.CARD

    @property
    def tooltip(self) -> str:
        return f"{self.name} · {self.when} · {self.stage_name}"


@dataclass(frozen=True)
class StageRow:
    """A stage in the table beneath the map: its steps and their figures added up."""

    stage_id: int | None
    name: str
    color: str
    steps: list[Step]


@dataclass(frozen=True)
class JourneyMap:
    cadence_id: int
    cadence_name: str
    anchor: str
    steps: list[Step]
    bands: list[Band]
    ticks: list[Tick]
    stages: list[StageRow]
    axis_y: float
    day_zero_x: float
    height: float
    box_height: float
    width: int = WIDTH
    plot_left: int = PLOT_LEFT
    plot_right: int = PLOT_RIGHT

    @property
    def axis_label_y(self) -> float:
        return self.axis_y + 18

    @property
    def repeat_label_y(self) -> float:
        return self.axis_y - 10


# --- Figures: one grouped query ----------------------------------------------------------------

FIGURE_NAMES = tuple(figure.name for figure in fields(StepFigures))
CALL_OUTCOMES = ("reached", "voicemail", "no_answer", "at_risk")


def _figure_rows(touchpoints: QuerySet[Touchpoint], today: dt.date, *group: str) -> Iterable[dict[str, Any]]:
    """`touchpoints` (cancelled ones left out) counted by `group`, rule, status, outcome and card status."""
    rows: QuerySet[Touchpoint, dict[str, Any]] = (
        touchpoints.exclude(status=Touchpoint.Status.CANCELLED)
        .values(*group, "rule_id", "status", "outcome", "card__status")
        .annotate(
            n=Count("pk"),
            on_time=Count("pk", filter=Q(completed_at__isnull=False, completed_at__date__lte=F("due_on"))),
            overdue=Count("pk", filter=Q(due_on__lt=today)),
        )
        .order_by()
    )
    return rows


def _add_row(figures: dict[str, int], row: dict[str, Any]) -> None:
    """Add one grouped row to a step's figures (by name, as in StepFigures)."""

    def add(name: str, n: int) -> None:
        if n:
            figures[name] = figures.get(name, 0) + n

    status, n = row["status"], row["n"]
    if status in (Touchpoint.Status.PENDING, Touchpoint.Status.HELD):
        add("planned", n)
        if status == Touchpoint.Status.PENDING:
            add("overdue", row["overdue"])
    elif status == Touchpoint.Status.SKIPPED:
        add("skipped", n)
    elif status == Touchpoint.Status.DONE:
        add("on_time", row["on_time"])
        add("late", n - row["on_time"])
        if row["outcome"] in CALL_OUTCOMES:
            add(row["outcome"], n)
        if row["card__status"] in (Card.Status.MAILED, Card.Status.RETURNED):
            add("mailed", n)
        if row["card__status"] == Card.Status.RETURNED:
            add("returned", n)


def step_figures(*, cadence: Cadence, user: User, today: dt.date | None = None) -> dict[int, StepFigures]:
    """Each rule's figures, for the customers the user sees: {rule id: figures}, in one query."""
    touchpoints = Touchpoint.objects.visible_to(user).filter(rule__cadence=cadence)
    counts: dict[int, dict[str, int]] = {}
    for row in _figure_rows(touchpoints, today or timezone.localdate()):
        _add_row(counts.setdefault(row["rule_id"], {}), row)
    return {rule_id: StepFigures(**figures) for rule_id, figures in counts.items()}


def step_figures_by_manager(*, today: dt.date) -> dict[tuple[int, int], dict[str, int]]:
    """Every rule's figures (of every cadence) grouped by the customer's account manager too, in one
    query over all touchpoints (the nightly job's journey-steps figures):
    (account manager id, 0 for none; rule id) -> {figure name: count}, counts of zero left out."""
    counts: dict[tuple[int, int], dict[str, int]] = {}
    for row in _figure_rows(Touchpoint.objects.all(), today, "customer__account_manager_id"):
        _add_row(counts.setdefault((row["customer__account_manager_id"] or 0, row["rule_id"]), {}), row)
    return {group: figures for group, figures in counts.items() if figures}


# --- Layout ------------------------------------------------------------------------------------


def offset_days(rule: Rule) -> float:
    return rule.offset_amount * UNIT_DAYS[rule.offset_unit]


def _root(days: float) -> float:
    return math.copysign(math.sqrt(abs(days)), days)


class _XOf:
    """Square-root scale from days to x, with a little room at both ends."""

    def __init__(self, low: float, high: float) -> None:
        self.low = _root(low) - 1.0
        self.high = _root(high) * 1.04 + 1.0
        self.span = max(self.high - self.low, 1e-9)

    def __call__(self, days: float) -> float:
        share = (_root(days) - self.low) / self.span
        return round(PLOT_LEFT + min(1.0, max(0.0, share)) * (PLOT_RIGHT - PLOT_LEFT), 1)


def _repeat_words(rule: Rule) -> str:
    every = rule.repeat_every_months
    if not every:
        return ""
    return "↻ every year" if every == 12 else "↻ every month" if every == 1 else f"↻ every {every} months"


def _domain(rules: list[Rule]) -> tuple[float, float]:
    offsets = [offset_days(rule) for rule in rules]
    low = min([0.0, *offsets])
    high = max([30.0, *offsets])
    for rule, offset in zip(rules, offsets, strict=True):
        if rule.repeat_every_months:  # room for the next occurrence, to show the rhythm
            high = max(high, offset + rule.repeat_every_months * UNIT_DAYS["months"])
    return low, high


def _ticks(low: float, high: float, x_of: _XOf) -> list[Tick]:
    ticks: list[Tick] = []
    for days, label in TICKS:
        if not low - 1 <= days <= high * 1.04 + 1:
            continue
        x = x_of(days)
        if ticks and x - ticks[-1].x < TICK_MIN_GAP:
            if days == 0:  # day 0 always has its label
                ticks[-1] = Tick(x=x, label=label)
            continue
        ticks.append(Tick(x=x, label=label))
    return ticks


def _ghosts(rule: Rule, offset: float, high: float, x_of: _XOf) -> list[Ghost]:
    if not rule.repeat_every_months:
        return []
    interval = rule.repeat_every_months * UNIT_DAYS["months"]
    ghosts: list[Ghost] = []
    k = 1
    while offset + k * interval <= high * 1.04 and (rule.repeat_count is None or k < rule.repeat_count) and k <= 12:
        ghosts.append(Ghost(x=x_of(offset + k * interval)))
        k += 1
    return ghosts


def _bands(steps: list[Step], stage_order: list[tuple[int | None, str, str]]) -> tuple[list[Band], int]:
    """One band per stage over its steps; bands that would overlap go on lanes of their own."""
    spans: list[tuple[float, float, int | None, str, str]] = []
    for stage_id, name, color in stage_order:
        xs = [step.x for step in steps if step.stage_id == stage_id]
        if xs:
            left, right = max(PLOT_LEFT, min(xs) - 16), min(PLOT_RIGHT, max(xs) + 16)
            right = max(right, min(PLOT_RIGHT, left + 7.0 * len(name) + 14))  # room for the name
            spans.append((left, right, stage_id, name, color))
    lanes: list[float] = []  # the right end of the last band on each lane, left to right
    bands: list[Band] = []
    for left, right, stage_id, name, color in sorted(spans, key=lambda span: span[:2]):
        lane = next((i for i, end in enumerate(lanes) if left >= end + 4), len(lanes))
        if lane == len(lanes):
            lanes.append(right)
        else:
            lanes[lane] = right
        y = BANDS_TOP + lane * (BAND_HEIGHT + BAND_GAP)
        bands.append(Band(stage_id=stage_id, name=name, color=color, x=left, y=y, width=round(right - left, 1)))
    return bands, max(1, len(lanes))


def _lines(step: Step, *, x: float, y: float, width: float) -> list[TextLine]:
    f = step.figures
    lines = [
        step.stage_name,
        step.name,
        step.when,
        f"planned {f.planned}" + (f" ({f.overdue} overdue)" if f.overdue else ""),
        f"on time {f.on_time} · late {f.late}",
        f"skipped {f.skipped}",
    ]
    if step.is_card:
        lines.append(f"mailed {f.mailed} · returned {f.returned}")
    else:
        lines.append(f"reached {f.reached} · voicemail {f.voicemail}")
        lines.append(f"no answer {f.no_answer} · at risk {f.at_risk}")
    limit = max(8, int((width - 2 * BOX_PADDING) / 6.6))
    roles = ("stage", "name", "when")
    return [
        TextLine(
            x=round(x + BOX_PADDING, 1),
            y=round(y + BOX_PADDING + (index + 1) * LINE_HEIGHT - 3, 1),
            text=line if len(line) <= limit else line[: limit - 1] + "…",
            role=roles[index] if index < len(roles) else "figure",
        )
        for index, line in enumerate(lines)
    ]


def _per_row(count: int) -> int:
    room = PLOT_RIGHT - PLOT_LEFT
    return max(1, min(count, int((room + BOX_GAP) // (BOX_MIN_WIDTH + BOX_GAP))))


def _place_boxes(steps: list[Step], top: float) -> tuple[list[Step], float, int]:
    """The boxes in rows under the axis, in the order of the steps: (steps, box height, rows)."""
    if not steps:
        return [], 0.0, 0
    room = PLOT_RIGHT - PLOT_LEFT
    per_row = _per_row(len(steps))
    width = round(min(BOX_MAX_WIDTH, (room - (per_row - 1) * BOX_GAP) / per_row), 1)
    box_height = 8 * LINE_HEIGHT + 2 * BOX_PADDING
    placed: list[Step] = []
    for index, step in enumerate(steps):
        row, column = divmod(index, per_row)
        in_row = min(per_row, len(steps) - row * per_row)
        used = in_row * width + (in_row - 1) * BOX_GAP
        left = PLOT_LEFT + (room - used) / 2 + column * (width + BOX_GAP)
        y = top + row * (box_height + ROW_GAP)
        left, y = round(left, 1), round(y, 1)
        placed.append(replace(step, box_x=left, box_y=y, box_width=width, lines=_lines(step, x=left, y=y, width=width)))
    return placed, box_height, math.ceil(len(steps) / per_row)


def cadence_journey_map(
    *,
    cadence: Cadence,
    user: User,
    today: dt.date | None = None,
    figures: Mapping[int, StepFigures] | None = None,
) -> JourneyMap:
    """The cadence's rules on one timeline, in their stages, with each step's figures: `figures` when
    given (the stored ones, selectors/cadence_figures.py), else counted live for `user`."""
    stages = list(Stage.objects.filter(cadence=cadence).order_by("position", "id"))
    colors = {stage.pk: PALETTE[index % len(PALETTE)] for index, stage in enumerate(stages)}
    names = {stage.pk: stage.name for stage in stages}
    rules = sorted(Rule.objects.filter(cadence=cadence).order_by("id"), key=lambda rule: (offset_days(rule), rule.pk))
    if figures is None:
        figures = step_figures(cadence=cadence, user=user, today=today)
    low, high = _domain(rules)
    x_of = _XOf(low, high)
    steps = [
        Step(
            rule_id=rule.pk,
            name=rule.name,
            action=rule.action,
            active=rule.active,
            when=rule.schedule_in_words(),
            repeat=_repeat_words(rule),
            stage_id=rule.stage_id,
            stage_name=names.get(rule.stage_id, NO_STAGE) if rule.stage_id else NO_STAGE,
            color=colors.get(rule.stage_id, NO_STAGE_COLOR) if rule.stage_id else NO_STAGE_COLOR,
            offset_days=offset_days(rule),
            x=x_of(offset_days(rule)),
            figures=figures.get(rule.pk, StepFigures()),
            ghosts=_ghosts(rule, offset_days(rule), high, x_of),
        )
        for rule in rules
    ]
    stage_order: list[tuple[int | None, str, str]] = [(s.pk, s.name, colors[s.pk]) for s in stages]
    stage_order.append((None, NO_STAGE, NO_STAGE_COLOR))
    bands, lanes = _bands(steps, stage_order)
    axis_y = BANDS_TOP + lanes * (BAND_HEIGHT + BAND_GAP) + AXIS_BELOW_BANDS
    steps, box_height, rows = _place_boxes(steps, top=axis_y + 46)
    height = axis_y + 46 + rows * (box_height + ROW_GAP) if steps else axis_y + 40
    table = [
        StageRow(stage_id=stage_id, name=name, color=color, steps=[s for s in steps if s.stage_id == stage_id])
        for stage_id, name, color in stage_order
    ]
    return JourneyMap(
        cadence_id=cadence.pk,
        cadence_name=cadence.name,
        anchor=str(cadence.anchor_kind),
        steps=steps,
        bands=bands,
        ticks=_ticks(low, high, x_of),
        stages=[row for row in table if row.steps],
        axis_y=axis_y,
        day_zero_x=x_of(0),
        height=round(height, 1),
        box_height=box_height,
    )
