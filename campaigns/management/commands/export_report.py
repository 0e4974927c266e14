"""Export a stock report as CSV or JSON: the records of its table (docs/reports.md).

    python manage.py export_report on-time --format csv --from 2026-01-01 --to 2026-06-30 --manager alice

The health report gives one record per customer; in CSV its measures are one column holding
them as JSON (a list of name, points and reason).

The command sees everyone's figures; --manager narrows them to one account manager.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.management.commands.export_touchpoints import _Stdout, parse_date, write_json
from campaigns.selectors.reports import REPORTS
from campaigns.selectors.reports.base import ReportError, flat_records, resolve_filters
from nurture.lib.csvsafe import write_csv

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


class Command(BaseCommand):
    help = "Export a report (its table, one record per row) as CSV or JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", choices=sorted(REPORTS), help="Which report.")
        parser.add_argument("--format", choices=["json", "csv"], required=True, help="Output format.")
        parser.add_argument("--from", dest="date_from", metavar="DATE", help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="date_to", metavar="DATE", help="Last day, YYYY-MM-DD (default today).")
        parser.add_argument("--manager", default="", metavar="USERNAME", help="Only this account manager's figures.")
        parser.add_argument(
            "--cadence", default="", metavar="NAME", help="Only this cadence (name or id; the stages report)."
        )
        parser.add_argument("--output", metavar="FILE", help="Write to this file instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        definition = REPORTS[options["name"]]
        try:
            filters = resolve_filters(
                viewer=None,
                start=parse_date("--from", options["date_from"]),
                end=parse_date("--to", options["date_to"]),
                manager=options["manager"],
                cadence=options["cadence"],
            )
        except ReportError as exc:
            raise CommandError(str(exc)) from None
        report = definition.build(filters)
        records = report.records
        fields = list(records[0]) if records else [key for key, _ in report.tables[0].columns] if report.tables else []
        with ExitStack() as stack:
            out: SupportsWrite[str]
            if options["output"]:
                try:
                    out = stack.enter_context(open(options["output"], "w", encoding="utf-8", newline=""))
                except OSError as exc:
                    raise CommandError(f"Cannot write {options['output']}: {exc.strerror}") from None
            else:
                out = _Stdout(self)
            if options["format"] == "csv":
                count = write_csv(flat_records(records), out, fields=fields)
            else:
                count = write_json(records, out)
        for note in report.notes:
            self.stderr.write(note)
        if options["output"]:
            self.stderr.write(f"Exported {count} records of {definition.name} to {options['output']}.")
