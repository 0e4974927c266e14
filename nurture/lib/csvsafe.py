"""CSV that a spreadsheet opens as text: cells that would run as formulas are neutralised."""

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice or Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class SupportsWrite(Protocol):
    def write(self, text: str, /) -> Any: ...


def neutralise(cell: str) -> str:
    """Prefix a cell a spreadsheet would evaluate with ' so it stays text."""
    return f"'{cell}" if cell.startswith(FORMULA_PREFIXES) else cell


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(str(value))


def write_csv(rows: Iterable[Mapping[str, object]], out: SupportsWrite, *, fields: Sequence[str]) -> int:
    """Write a header and the rows; returns how many rows were written."""
    writer = csv.writer(out)
    writer.writerow(fields)
    count = 0
    for row in rows:
        writer.writerow([csv_cell(row[name]) for name in fields])
        count += 1
    return count
