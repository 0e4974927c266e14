"""The journey map's per-step figures, kept daily: not a report of its own, a figure set the
nightly job writes for the cadence page (selectors/cadence_figures.py, docs/journey-map.md).

The figures of day D are, per rule (of every cadence, active or not) and account manager (the
customer's current one, 0 for none), the step's figures as selectors/journey_map.py counts them
live: planned, overdue (pending and due before D), on time, late, skipped, the call outcomes,
cards mailed and returned (key "<rule>:<figure>", zeros left out). They describe the touchpoints
as they stand when the job runs, just after midnight: a touchpoint's status has no history, so
the job writes only the new day (no backfill), and the page says when they were recorded. Only
the last KEEP_DAYS days are kept: the page reads the latest.
"""

from __future__ import annotations

import datetime as dt

from campaigns.selectors.journey_map import step_figures_by_manager
from campaigns.selectors.reports.base import Figure, FigureSet

NAME = "journey-steps"
KEEP_DAYS = 7


def key(rule_id: int, figure: str) -> str:
    return f"{rule_id}:{figure}"


def figures_for_day(day: dt.date) -> list[Figure]:
    """Each rule's figures per account manager, as they stand now, with `day` as today (overdue: due before it)."""
    return [
        Figure(manager_id=manager, kind="", key=key(rule, figure), value=count)
        for (manager, rule), figures in step_figures_by_manager(today=day).items()
        for figure, count in figures.items()
    ]


DEFINITION = FigureSet(
    name=NAME,
    figures_for_day=figures_for_day,
    # Written at the start of the day (the night's run), like the stages report's state.
    settle_days=lambda: 0,
    # Statuses have no history: only the day of the run can be written.
    backfill=False,
    # The page reads today's or yesterday's: a week is kept, to look at by hand.
    keep_days=KEEP_DAYS,
)
