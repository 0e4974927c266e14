"""CSV that a spreadsheet opens as text: cells that would run as formulas are neutralised.

The neutralising prefix is recognisable and reversible, so that an export imports back unchanged:
a cell gets one leading apostrophe when it starts with a formula character, or with apostrophes
followed by one (so that a value that itself starts with "'=" survives too); restore() removes
exactly that one apostrophe. No exported cell starts with a formula character, and a cell typed
as a formula in a spreadsheet (=HYPERLINK(...)) is imported as the text it is and neutralised
again on the next export.
"""

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice or Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A cell that neutralise() prefixes: apostrophes (maybe none) and then a formula character.
_NEEDS_PREFIX = re.compile("'*[" + re.escape("".join(FORMULA_PREFIXES)) + "]")
# A cell that neutralise() prefixed: at least one apostrophe, then a formula character.
_PREFIXED = re.compile("'+[" + re.escape("".join(FORMULA_PREFIXES)) + "]")


class SupportsWrite(Protocol):
    def write(self, text: str, /) -> Any: ...


def neutralise(cell: str) -> str:
    """Prefix a cell a spreadsheet would evaluate with ' so it stays text (and one that starts with
    apostrophes before a formula character, so that restore() is its exact inverse)."""
    return f"'{cell}" if _NEEDS_PREFIX.match(cell) else cell


def restore(cell: str) -> str:
    """The cell neutralise() was given: one leading apostrophe removed where neutralise() adds one.

    restore(neutralise(x)) == x for every x; any other cell is returned as it is.
    """
    return cell[1:] if _PREFIXED.match(cell) else cell


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(str(value))


def write_csv(rows: Iterable[Mapping[str, object]], out: SupportsWrite, *, fields: Sequence[str]) -> int:
    """Write a header and the rows; returns how many rows were written."""
    writer = csv.writer(out)
    writer.writerow([csv_cell(name) for name in fields])
    count = 0
    for row in rows:
        writer.writerow([csv_cell(row[name]) for name in fields])
        count += 1
    return count
