"""A customer's journey: milestones, touchpoints and activities on one time axis, for the customer page.

``customer_journey()`` loads the customer's milestones and their latest touchpoints (cancelled
ones are left out: they were never done and were planned again or dropped) and lays them out
for a server-rendered SVG: one lane per kind (milestones, calls, cards, and activities: touches
made in other channels, recorded through the API), x from the date,
the customer's "today" (in their time zone) as a line between past and planned. Nothing here
draws; templates/admin/nurture/customer/journey.html does.

Milestones long before the first touchpoint (a birthday in 1980) would squash the rest into a
sliver, so they are pinned to the left edge and marked as earlier. Events that would overlap in
a lane are nudged up or down a little.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace

from django.db.models import Count
from django.utils import timezone

from campaigns.models import Activity, Card, Touchpoint
from nurture.lib import calendar
from nurture.models import Customer, Milestone

# The newest touchpoints drawn; the rest are a link away (the touchpoint changelist).
TOUCHPOINTS_SHOWN = 120
MILESTONES_SHOWN = 50
ACTIVITIES_SHOWN = 60
# A milestone earlier than this before the first touchpoint (or today) is pinned to the edge.
PIN_BEFORE_MONTHS = 24
# The axis covers at least this many days, so that a new customer's few events are not stretched.
MIN_SPAN_DAYS = 90
RECENT_SHOWN = 5
UPCOMING_SHOWN = 5

# Geometry of the SVG (its viewBox; it scales to the page's width).
WIDTH = 960
PLOT_LEFT = 104
PLOT_RIGHT = WIDTH - 28
LANES = (
    ("milestone", "Milestones", 38),
    ("call", "Calls", 82),
    ("card", "Cards", 126),
    ("activity", "Elsewhere", 170),
)
AXIS_Y = 202
HEIGHT = 228
RADIUS = 6
# Nudges tried, in order, for an event too close to the previous one in its lane.
NUDGES = (0, -11, 11, -22, 22)
MIN_GAP = 2 * RADIUS + 2

STATE_LABELS = {
    "milestone": "Milestone",
    "reached": "Reached",
    "voicemail": "Left a voicemail",
    "no_answer": "No answer",
    "mailed": "Mailed",
    "returned": "Returned undeliverable",
    "done": "Done",
    "skipped": "Skipped",
    "overdue": "Overdue",
    "planned": "Planned",
    "activity": "Activity",
}


@dataclass(frozen=True)
class JourneyEvent:
    date: dt.date
    lane: str
    title: str
    detail: str
    state: str
    past: bool
    x: float
    y: float
    touchpoint_id: int | None = None
    milestone_id: int | None = None
    activity_id: int | None = None
    pinned: bool = False
    late: bool = False
    notes: str = ""

    @property
    def tooltip(self) -> str:
        text = f"{self.date.isoformat()} · {self.title} · {self.detail}"
        return f"{text}\n{self.notes}" if self.notes else text


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Lane:
    key: str
    label: str
    y: int


@dataclass(frozen=True)
class Summary:
    calls_done: int = 0
    reached: int = 0
    voicemail: int = 0
    no_answer: int = 0
    cards_mailed: int = 0
    cards_returned: int = 0
    skipped: int = 0
    planned: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class Journey:
    customer_id: int
    today: dt.date
    start: dt.date
    end: dt.date
    events: list[JourneyEvent]
    ticks: list[Tick]
    today_x: float
    touchpoints_shown: int
    touchpoints_total: int
    summary: Summary
    # The day a returned card flagged the customer's address; None while it is deliverable.
    undeliverable_since: dt.date | None = None
    lanes: list[Lane] = field(default_factory=lambda: [Lane(*lane) for lane in LANES])
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PLOT_LEFT
    plot_right: int = PLOT_RIGHT
    axis_y: int = AXIS_Y
    radius: int = RADIUS

    @property
    def truncated(self) -> bool:
        return self.touchpoints_total > self.touchpoints_shown

    @property
    def has_pinned(self) -> bool:
        return any(event.pinned for event in self.events)

    @property
    def recent(self) -> list[JourneyEvent]:
        """The latest things that happened, newest first."""
        return [event for event in reversed(self.events) if event.past][:RECENT_SHOWN]

    @property
    def upcoming(self) -> list[JourneyEvent]:
        """What is planned next (overdue first), soonest first."""
        return [event for event in self.events if not event.past][:UPCOMING_SHOWN]

    @property
    def future_width(self) -> float:
        return max(0.0, self.plot_right - self.today_x)


# --- Describing events -------------------------------------------------------------------------


def touchpoint_state(touchpoint: Touchpoint, today: dt.date) -> str:
    if touchpoint.status == Touchpoint.Status.DONE:
        if touchpoint.kind == Touchpoint.Kind.CARD:
            card: Card | None = getattr(touchpoint, "card", None)
            return "returned" if card is not None and card.status == Card.Status.RETURNED else "mailed"
        return touchpoint.outcome or "done"
    if touchpoint.status == Touchpoint.Status.SKIPPED:
        return "skipped"
    return "overdue" if touchpoint.due_on < today else "planned"


def _card_detail(touchpoint: Touchpoint) -> str:
    card: Card | None = getattr(touchpoint, "card", None)
    if card is None:
        return "card not drafted yet"
    return f"card {card.get_status_display().lower()}"


def _detail(touchpoint: Touchpoint, state: str) -> str:
    by = touchpoint.completed_by.get_username() if touchpoint.completed_by is not None else ""
    match state:
        case "skipped":
            return f"Skipped: {touchpoint.skip_reason}"
        case "returned":
            return "Mailed, and came back: the address is undeliverable"
        case "overdue":
            what = f", {_card_detail(touchpoint)}" if touchpoint.kind == Touchpoint.Kind.CARD else ""
            return f"Overdue since {touchpoint.due_on.isoformat()}{what}"
        case "planned":
            verb = "mail by" if touchpoint.kind == Touchpoint.Kind.CARD else "due"
            what = f", {_card_detail(touchpoint)}" if touchpoint.kind == Touchpoint.Kind.CARD else ""
            return f"Planned, {verb} {touchpoint.due_on.isoformat()}{what}"
    label = STATE_LABELS.get(state, state.replace("_", " ").capitalize())
    return f"{label} by {by}" if by else label


def _event_date(touchpoint: Touchpoint) -> dt.date:
    """Done and skipped touchpoints sit where they happened; the others on their due date."""
    if touchpoint.status != Touchpoint.Status.PENDING and touchpoint.completed_at is not None:
        return timezone.localdate(touchpoint.completed_at)
    return touchpoint.due_on


# --- Layout -----------------------------------------------------------------------------------


def _months_between(start: dt.date, end: dt.date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _ticks(start: dt.date, end: dt.date, x_of: _XOf) -> list[Tick]:
    months = max(1, _months_between(start, end))
    step = next((s for s in (1, 2, 3, 6, 12, 24, 60, 120) if months / s <= 10), 240)
    year, month = start.year, start.month
    ticks: list[Tick] = []
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        day = dt.date(year, month, 1)
        if day > end:
            return ticks
        index = year * 12 + month - 1
        if index % step:
            continue
        if step >= 12:
            label = str(year)
        elif month == 1 or not ticks:
            label = day.strftime("%b %Y")
        else:
            label = day.strftime("%b")
        ticks.append(Tick(x=x_of(day), label=label))


class _XOf:
    def __init__(self, start: dt.date, end: dt.date) -> None:
        self.start = start
        self.days = max(1, (end - start).days)

    def __call__(self, day: dt.date) -> float:
        share = (day - self.start).days / self.days
        return round(PLOT_LEFT + min(1.0, max(0.0, share)) * (PLOT_RIGHT - PLOT_LEFT), 1)


def _axis(dates: list[dt.date], today: dt.date) -> tuple[dt.date, dt.date]:
    start, end = min([*dates, today]), max([*dates, today])
    span = (end - start).days
    if span < MIN_SPAN_DAYS:  # centre the short story on its middle
        middle = start + dt.timedelta(days=span // 2)
        start, end = middle - dt.timedelta(days=MIN_SPAN_DAYS // 2), middle + dt.timedelta(days=MIN_SPAN_DAYS // 2)
        span = MIN_SPAN_DAYS
    pad = dt.timedelta(days=math.ceil(span * 0.04))
    return start - pad, end + pad


def _nudge(events: list[JourneyEvent]) -> list[JourneyEvent]:
    """Move events that would overlap in their lane up or down a little."""
    placed: list[JourneyEvent] = []
    last_x: dict[tuple[str, int], float] = {}
    for event in sorted(events, key=lambda e: (e.lane, e.x)):
        choice = next(
            (n for n in NUDGES if event.x - last_x.get((event.lane, n), -math.inf) >= MIN_GAP),
            min(NUDGES, key=lambda n: last_x.get((event.lane, n), -math.inf)),
        )
        last_x[(event.lane, choice)] = event.x
        placed.append(replace(event, y=event.y + choice))
    return placed


# --- Building the journey ---------------------------------------------------------------------


def _summary(customer: Customer, today: dt.date) -> Summary:
    """Counts over every touchpoint of the customer (not only those drawn): one grouped query."""
    rows = (
        Touchpoint.objects.filter(customer=customer)
        .exclude(status=Touchpoint.Status.CANCELLED)
        .values("kind", "status", "outcome", "card__status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[str, int] = {}
    for row in rows:
        kind, status, outcome, n = row["kind"], row["status"], row["outcome"], row["n"]
        if row["card__status"] == Card.Status.RETURNED:
            counts["cards_returned"] = counts.get("cards_returned", 0) + n
        if status == Touchpoint.Status.DONE and kind == Touchpoint.Kind.CALL:
            counts["calls_done"] = counts.get("calls_done", 0) + n
            if outcome in ("reached", "voicemail", "no_answer"):
                counts[outcome] = counts.get(outcome, 0) + n
        elif status == Touchpoint.Status.DONE:
            counts["cards_mailed"] = counts.get("cards_mailed", 0) + n
        elif status == Touchpoint.Status.SKIPPED:
            counts["skipped"] = counts.get("skipped", 0) + n
        elif status == Touchpoint.Status.PENDING:
            counts["planned"] = counts.get("planned", 0) + n
    counts["overdue"] = (
        Touchpoint.objects.filter(customer=customer, status=Touchpoint.Status.PENDING, due_on__lt=today).count()
        if counts.get("planned")
        else 0
    )
    counts["planned"] = counts.get("planned", 0) - counts["overdue"]
    return Summary(**counts)


def customer_journey(*, customer: Customer, now: dt.datetime | None = None) -> Journey:
    """The customer's milestones and latest touchpoints, laid out on one axis."""
    now = now or timezone.now()
    today = calendar.local_today(now, customer.time_zone)
    live = Touchpoint.objects.filter(customer=customer).exclude(status=Touchpoint.Status.CANCELLED)
    newest = list(
        live.select_related("rule", "card", "milestone__kind", "completed_by").order_by("-due_on", "-id")[
            : TOUCHPOINTS_SHOWN + 1
        ]
    )
    total = len(newest) if len(newest) <= TOUCHPOINTS_SHOWN else live.count()
    touchpoints = list(reversed(newest[:TOUCHPOINTS_SHOWN]))
    milestones = list(
        Milestone.objects.filter(customer=customer).select_related("kind").order_by("date", "id")[:MILESTONES_SHOWN]
    )
    activities = list(
        reversed(Activity.objects.filter(customer=customer).order_by("-occurred_at", "-id")[:ACTIVITIES_SHOWN])
    )
    activity_dates = [calendar.local_today(a.occurred_at, customer.time_zone) for a in activities]

    touch_dates = [_event_date(tp) for tp in touchpoints] + activity_dates
    earliest = min([*touch_dates, today])
    pin_before = calendar.add_months(earliest, -PIN_BEFORE_MONTHS)
    start, end = _axis(touch_dates + [m.date for m in milestones if m.date >= pin_before], today)
    x_of = _XOf(start, end)
    lane_y = {key: y for key, _, y in LANES}

    events: list[JourneyEvent] = []
    for milestone in milestones:
        pinned = milestone.date < start
        events.append(
            JourneyEvent(
                date=milestone.date,
                lane="milestone",
                title=milestone.kind.name,
                detail=milestone.note or ("Earlier than the axis" if pinned else "Milestone"),
                state="milestone",
                past=milestone.date <= today,
                x=x_of(milestone.date) if not pinned else float(PLOT_LEFT),
                y=lane_y["milestone"],
                milestone_id=milestone.pk,
                pinned=pinned,
            )
        )
    for activity, day in zip(activities, activity_dates, strict=True):
        score = f", score {activity.score}" if activity.score is not None else ""
        events.append(
            JourneyEvent(
                date=day,
                lane="activity",
                title=activity.get_channel_display(),
                detail=f"{activity.subject or 'No subject'}{score}"
                + (f" (from {activity.source})" if activity.source else ""),
                state="activity",
                past=activity.occurred_at <= now,
                x=x_of(day),
                y=lane_y["activity"],
                activity_id=activity.pk,
            )
        )
    for touchpoint, day in zip(touchpoints, touch_dates[: len(touchpoints)], strict=True):
        state = touchpoint_state(touchpoint, today)
        events.append(
            JourneyEvent(
                date=day,
                lane=touchpoint.kind,
                title=touchpoint.rule.name,
                detail=_detail(touchpoint, state),
                state=state,
                past=touchpoint.status != Touchpoint.Status.PENDING,
                x=x_of(day),
                y=lane_y[touchpoint.kind],
                touchpoint_id=touchpoint.pk,
                late=touchpoint.late,
                notes=touchpoint.notes,
            )
        )
    lane_order = {key: index for index, (key, _, _) in enumerate(LANES)}
    events = sorted(
        _nudge(events),
        key=lambda e: (e.date, lane_order[e.lane], e.touchpoint_id or 0, e.milestone_id or 0, e.activity_id or 0),
    )
    return Journey(
        customer_id=customer.pk,
        today=today,
        start=start,
        end=end,
        events=events,
        ticks=_ticks(start, end, x_of),
        today_x=x_of(today),
        touchpoints_shown=len(touchpoints),
        touchpoints_total=total,
        summary=_summary(customer, today),
        undeliverable_since=customer.address_undeliverable_on,
    )
