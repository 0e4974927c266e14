"""Export touchpoints as JSON or CSV, one record per touchpoint, streamed.

Rows are read with QuerySet.iterator(chunk_size=...) and written as they come, so memory stays
flat however many there are; the JSON output is one valid array written element by element.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from contextlib import ExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.selectors.touchpoint_export import FIELDS, records, touchpoints
from nurture.lib.csvsafe import write_csv

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


def parse_date(option: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


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
