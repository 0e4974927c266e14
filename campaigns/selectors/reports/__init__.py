"""The stock reports, one module each, and their registry (docs/reports.md).

A new report is one module with a `DEFINITION` (see base.py) and one line in REPORTS: the admin
pages, the CSV download, `export_report`, the nightly figures and the monthly pack follow.
"""

from campaigns.selectors.reports import (
    cards,
    coverage,
    health,
    journey_steps,
    on_time,
    outcomes,
    retention,
    stages,
    workload,
)
from campaigns.selectors.reports.base import DailyFigures, FigureSet, ReportDefinition

REPORTS: dict[str, ReportDefinition] = {
    definition.name: definition
    for definition in (
        on_time.DEFINITION,
        outcomes.DEFINITION,
        cards.DEFINITION,
        coverage.DEFINITION,
        workload.DEFINITION,
        retention.DEFINITION,
        health.DEFINITION,
        stages.DEFINITION,
    )
}

# Daily figures kept for pages other than the reports (the cadence page's journey map): the nightly
# job writes them like a report's; they are no report.
FIGURE_SETS: dict[str, FigureSet] = {journey_steps.NAME: journey_steps.DEFINITION}


def daily_figures() -> dict[str, DailyFigures]:
    """Everything the nightly job writes: the reports' figures, then the figure sets."""
    return {**REPORTS, **FIGURE_SETS}
