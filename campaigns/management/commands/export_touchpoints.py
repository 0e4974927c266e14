"""Export touchpoints as JSON or CSV, one record per touchpoint, streamed.

Rows are read with QuerySet.iterator(chunk_size=...) and written as they come, so memory stays
flat however many there are; the JSON output is one valid array written element by element.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.models import Touchpoint
from campaigns.querysets import TouchpointQuerySet
from nurture.csvsafe import write_csv

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

CHUNK_SIZE = 2000
FIELDS = [
    "customer",
    "customer_name",
    "rule",
    "kind",
    "occurs_on",
    "due_on",
    "status",
    "outcome",
    "assignee",
    "late",
    "cancel_reason",
]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).


def parse_date(option: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def touchpoints(date_from: dt.date | None, date_to: dt.date | None) -> TouchpointQuerySet:
    queryset = Touchpoint.objects.for_export()
    if date_from is not None:
        queryset = queryset.filter(due_on__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(due_on__lte=date_to)
    # Rule is loaded whole: its __init__ reads its schedule fields, deferring them would
    # cost a query per row.
    return queryset.only(
        "customer__external_id",
        "customer__first_name",
        "customer__last_name",
        "rule",
        "assignee__username",
        "kind",
        "occurs_on",
        "due_on",
        "status",
        "outcome",
        "late",
        "cancel_reason",
    )


def records(queryset: TouchpointQuerySet) -> Iterator[dict[str, Any]]:
    """One plain dict per touchpoint: dates as ISO strings, no assignee as None."""
    for touchpoint in queryset.iterator(chunk_size=CHUNK_SIZE):
        yield {
            "customer": touchpoint.customer.external_id,
            "customer_name": touchpoint.customer.full_name,
            "rule": touchpoint.rule.slug,
            "kind": touchpoint.kind,
            "occurs_on": touchpoint.occurs_on.isoformat(),
            "due_on": touchpoint.due_on.isoformat(),
            "status": touchpoint.status,
            "outcome": touchpoint.outcome,
            "assignee": touchpoint.assignee.get_username() if touchpoint.assignee else None,
            "late": touchpoint.late,
            "cancel_reason": touchpoint.cancel_reason,
        }


def write_json(rows: Iterable[dict[str, Any]], out: SupportsWrite[str]) -> int:
    """A JSON array, one element per line, written as the rows arrive."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


class _Stdout:
    """The command's stdout as a plain text stream (OutputWrapper would add line endings)."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command

    def write(self, text: str) -> int:
        self.command.stdout.write(text, ending="")
        return len(text)


class Command(BaseCommand):
    help = "Export touchpoints (due between --from and --to, inclusive) as JSON or CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["json", "csv"], required=True, help="Output format.")
        parser.add_argument("--from", dest="date_from", metavar="DATE", help="First due date, YYYY-MM-DD.")
        parser.add_argument("--to", dest="date_to", metavar="DATE", help="Last due date, YYYY-MM-DD.")
        parser.add_argument("--output", metavar="FILE", help="Write to this file instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        date_from = parse_date("--from", options["date_from"])
        date_to = parse_date("--to", options["date_to"])
        if date_from and date_to and date_from > date_to:
            raise CommandError(f"--from {date_from} is after --to {date_to}")
        write = partial(write_csv, fields=FIELDS) if options["format"] == "csv" else write_json
        rows = records(touchpoints(date_from, date_to))
        with ExitStack() as stack:
            out: SupportsWrite[str]
            if options["output"]:
                try:
                    # newline="": the csv module writes its own \r\n line endings.
                    out = stack.enter_context(open(options["output"], "w", encoding="utf-8", newline=""))
                except OSError as exc:
                    raise CommandError(f"Cannot write {options['output']}: {exc.strerror}") from None
            else:
                out = _Stdout(self)
            count = write(rows, out)
        if options["output"]:
            self.stderr.write(f"Exported {count} touchpoints to {options['output']}.")
