"""The stock reports, one module each, and their registry (docs/reports.md).

A new report is one module with a `DEFINITION` (see base.py) and one line in REPORTS: the admin
pages, the CSV download, `export_report`, the nightly figures and the monthly pack follow.
"""

from campaigns.selectors.reports import cards, coverage, health, on_time, outcomes, retention, stages, workload
from campaigns.selectors.reports.base import ReportDefinition

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
