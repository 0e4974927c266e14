"""The geometry of cards, printing sheets and address labels, in millimetres.

Everything that has a size lives here, so that the stylesheet, the imposition of cards on
sheets and the tests all read the same numbers. Positions are measured from the top-left
corner of the page box (for a one-card sheet, that is the trim corner: the bleed lies outside
the page box, in negative coordinates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

MM_PER_INCH = 25.4
PT_PER_MM = 72 / MM_PER_INCH

#: The safe zone: nothing that matters is printed closer than this to the trim.
SAFE_MM = 4.0

# Office printers cannot print the outer few millimetres of a sheet; crop marks must stay
# inside this margin. Marks start a little outside the bleed so a slightly misaligned cut
# never shows a mark.
PRINTER_MARGIN_MM = 4.5
MARK_GAP_MM = 1.0
MARK_MAX_LENGTH_MM = 6.0
MARK_MIN_LENGTH_MM = 3.0


def inches(value: float) -> float:
    return value * MM_PER_INCH


@dataclass(frozen=True)
class CardFormat:
    """A finished card (one panel) and the flat sheet it is printed on before folding."""

    slug: str
    name: str
    panel_width: float
    panel_height: float
    folded: bool
    bleed: float
    envelope: str
    #: The front artwork's orientation, for the stylesheet ("portrait" or "landscape").
    orientation: str
    #: Font scale of the message and address relative to an A6 card.
    scale: float = 1.0

    @property
    def flat_width(self) -> float:
        return self.panel_width * 2 if self.folded else self.panel_width

    @property
    def flat_height(self) -> float:
        return self.panel_height

    @property
    def media_width(self) -> float:
        """Width of a one-card sheet: the flat card plus bleed on both sides."""
        return self.flat_width + 2 * self.bleed

    @property
    def media_height(self) -> float:
        return self.flat_height + 2 * self.bleed

    @property
    def is_postcard(self) -> bool:
        return not self.folded


FORMATS: dict[str, CardFormat] = {
    fmt.slug: fmt
    for fmt in (
        # A6 card folded from an A5 sheet; fits a C6 envelope.
        CardFormat("a6_folded", "A6 folded", 105, 148, True, 3.0, "c6", "portrait"),
        # 5 x 7 in card folded from a 10 x 7 in sheet; fits an A7 envelope.
        CardFormat("5x7_folded", "5 x 7 in folded", inches(5), inches(7), True, inches(0.125), "a7", "portrait", 1.12),
        # Postcards are landscape: the address side runs along the long edge, as postal services ask.
        CardFormat("a6_postcard", "A6 postcard", 148, 105, False, 3.0, "", "landscape"),
        CardFormat("4x6_postcard", "4 x 6 in postcard", inches(6), inches(4), False, inches(0.125), "", "landscape"),
    )
}


def page_geometry(format: str) -> CardFormat:
    """The geometry of a card format (a CardDesign.Format value)."""
    try:
        return FORMATS[format]
    except KeyError:
        raise ValueError(f"Unknown card format {format!r}; expected one of {', '.join(FORMATS)}") from None


@dataclass(frozen=True)
class Paper:
    slug: str
    name: str
    width: float
    height: float


PAPERS: dict[str, Paper] = {
    "a4": Paper("a4", "A4", 210, 297),
    "letter": Paper("letter", "US Letter", inches(8.5), inches(11)),
}

SHEETS = ("card", *PAPERS)


@dataclass(frozen=True)
class Slot:
    """Where the trim box of one flat card lies on a page (top-left corner, mm)."""

    x: float
    y: float


@dataclass(frozen=True)
class Mark:
    """A crop or fold mark: a hairline from (x1, y1) to (x2, y2), horizontal or vertical."""

    kind: str  # "crop" or "fold"
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def vertical(self) -> bool:
        return self.x1 == self.x2


@dataclass(frozen=True)
class Imposition:
    """How the cards of one format are placed on the pages of one kind of sheet.

    Front sides are filled row by row. A back side holds the same cards with their positions
    mirrored left to right, so that turning the sheet over about its vertical axis (as the page
    is displayed) puts every back behind its front: on portrait sheets that is the printer's
    "flip on long edge", on landscape sheets "flip on short edge" (see ``duplex``).
    """

    sheet: str
    format: CardFormat
    page_name: str
    #: The CSS page box: for a one-card sheet the trim size, otherwise the paper.
    page_width: float
    page_height: float
    #: Bleed of the page box (one-card sheets), 0 for several cards on paper.
    page_bleed: float
    slots: tuple[Slot, ...]
    marks: tuple[Mark, ...]
    duplex: str  # "long-edge" or "short-edge"

    @property
    def per_sheet(self) -> int:
        return len(self.slots)

    @property
    def media_width(self) -> float:
        return self.page_width + 2 * self.page_bleed

    @property
    def media_height(self) -> float:
        return self.page_height + 2 * self.page_bleed

    @property
    def landscape(self) -> bool:
        return self.media_width > self.media_height

    def back_slot(self, slot: Slot) -> Slot:
        return Slot(self.page_width - slot.x - self.format.flat_width, slot.y)


def _fit(length: float, card: float, bleed: float) -> int:
    """How many cards fit along a side, each with its bleed, leaving room for crop marks."""
    usable = length - 2 * (PRINTER_MARGIN_MM + MARK_MIN_LENGTH_MM + MARK_GAP_MM + bleed)
    # Neighbouring cards are separated by both their bleeds.
    return max(0, math.floor((usable + 2 * bleed) / (card + 2 * bleed) + 1e-9))


@cache
def imposition(format: str, sheet: str) -> Imposition:
    """Where the cards of a format go on a sheet ("card", "a4" or "letter")."""
    fmt = page_geometry(format)
    if sheet == "card":
        return Imposition(
            sheet=sheet,
            format=fmt,
            page_name=f"card-{fmt.slug}",
            page_width=fmt.flat_width,
            page_height=fmt.flat_height,
            page_bleed=fmt.bleed,
            slots=(Slot(0.0, 0.0),),
            marks=(),
            duplex="short-edge" if fmt.flat_width > fmt.flat_height else "long-edge",
        )
    try:
        paper = PAPERS[sheet]
    except KeyError:
        raise ValueError(f"Unknown sheet {sheet!r}; expected one of {', '.join(SHEETS)}") from None

    best: tuple[int, bool, int, int] | None = None  # (count, portrait, columns, rows)
    for portrait in (True, False):
        width, height = (paper.width, paper.height) if portrait else (paper.height, paper.width)
        columns = _fit(width, fmt.flat_width, fmt.bleed)
        rows = _fit(height, fmt.flat_height, fmt.bleed)
        if columns * rows and (best is None or columns * rows > best[0]):
            best = (columns * rows, portrait, columns, rows)
    if best is None:
        raise ValueError(f"A {fmt.name} card with bleed does not fit on {paper.name}")
    _, portrait, columns, rows = best
    width, height = (paper.width, paper.height) if portrait else (paper.height, paper.width)

    pitch_x = fmt.flat_width + 2 * fmt.bleed
    pitch_y = fmt.flat_height + 2 * fmt.bleed
    block_width = columns * pitch_x - 2 * fmt.bleed
    block_height = rows * pitch_y - 2 * fmt.bleed
    left = (width - block_width) / 2
    top = (height - block_height) / 2
    slots = tuple(
        Slot(round(left + column * pitch_x, 3), round(top + row * pitch_y, 3))
        for row in range(rows)
        for column in range(columns)
    )
    marks = _marks(fmt, slots, width, height, left, top, block_width, block_height)
    return Imposition(
        sheet=sheet,
        format=fmt,
        page_name=f"{paper.slug}-{'portrait' if portrait else 'landscape'}",
        page_width=width,
        page_height=height,
        page_bleed=0.0,
        slots=slots,
        marks=marks,
        duplex="long-edge" if portrait else "short-edge",
    )


def _marks(
    fmt: CardFormat,
    slots: tuple[Slot, ...],
    width: float,
    height: float,
    left: float,
    top: float,
    block_width: float,
    block_height: float,
) -> tuple[Mark, ...]:
    """Crop marks in the margins, in line with every cut; fold marks in line with every fold.

    Marks are drawn only outside the block of cards and their bleeds, never between cards,
    where they would print on a neighbour's bleed.
    """
    start = fmt.bleed + MARK_GAP_MM
    length_x = min(MARK_MAX_LENGTH_MM, left - start - PRINTER_MARGIN_MM)
    length_y = min(MARK_MAX_LENGTH_MM, top - start - PRINTER_MARGIN_MM)
    bottom = top + block_height
    right = left + block_width
    cuts_x = sorted({round(s.x, 3) for s in slots} | {round(s.x + fmt.flat_width, 3) for s in slots})
    cuts_y = sorted({round(s.y, 3) for s in slots} | {round(s.y + fmt.flat_height, 3) for s in slots})
    marks: list[Mark] = []
    for x in cuts_x:
        marks.append(Mark("crop", x, top - start - length_y, x, top - start))
        marks.append(Mark("crop", x, bottom + start, x, bottom + start + length_y))
    for y in cuts_y:
        marks.append(Mark("crop", left - start - length_x, y, left - start, y))
        marks.append(Mark("crop", right + start, y, right + start + length_x, y))
    if fmt.folded:
        for x in sorted({round(s.x + fmt.panel_width, 3) for s in slots}):
            marks.append(Mark("fold", x, top - start - length_y, x, top - start))
            marks.append(Mark("fold", x, bottom + start, x, bottom + start + length_y))
    return tuple(marks)


@dataclass(frozen=True)
class LabelStock:
    """A sheet of address labels, or an envelope (one "label" filling the page)."""

    slug: str
    name: str
    page_width: float
    page_height: float
    columns: int
    rows: int
    label_width: float
    label_height: float
    left: float
    top: float
    pitch_x: float
    pitch_y: float
    envelope: bool = False
    #: The address's type size and line height (points, ratio).
    font_pt: float = 9.0
    line_height: float = 1.22
    #: Space left and right of the address on a label.
    padding_left: float = 5.0
    padding_right: float = 4.0

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    @property
    def page_name(self) -> str:
        return f"labels-{self.slug}"

    @property
    def line_mm(self) -> float:
        return self.font_pt * self.line_height / PT_PER_MM

    def address_top(self, lines: int) -> float:
        """Where an address of so many lines starts so that it is centred on the label."""
        return max(1.5, (self.label_height - lines * self.line_mm) / 2)

    def positions(self) -> tuple[Slot, ...]:
        return tuple(
            Slot(round(self.left + c * self.pitch_x, 3), round(self.top + r * self.pitch_y, 3))
            for r in range(self.rows)
            for c in range(self.columns)
        )


LABEL_STOCKS: dict[str, LabelStock] = {
    stock.slug: stock
    for stock in (
        # Avery L7160: A4, 21 labels of 63.5 x 38.1 mm; margins 15.15 mm top, 7.25 mm left,
        # 2.54 mm between columns, none between rows.
        LabelStock("l7160", "Avery L7160", 210, 297, 3, 7, 63.5, 38.1, 7.25, 15.15, 66.04, 38.1),
        # Avery 5160: US Letter, 30 labels of 2 5/8 x 1 in; margins 1/2 in top, 3/16 in left,
        # 1/8 in between columns, none between rows.
        LabelStock(
            "5160",
            "Avery 5160",
            inches(8.5),
            inches(11),
            3,
            10,
            inches(2.625),
            inches(1),
            inches(0.1875),
            inches(0.5),
            inches(2.75),
            inches(1),
            font_pt=8.0,
            line_height=1.12,
            padding_left=4.5,
            padding_right=3.0,
        ),
        # Envelopes, printed landscape (the address runs along the long side).
        LabelStock("c6", "C6 envelope", 162, 114, 1, 1, 162, 114, 0, 0, 162, 114, True, 11.0, 1.35),
        LabelStock(
            "a7",
            "A7 envelope",
            inches(7.25),
            inches(5.25),
            1,
            1,
            inches(7.25),
            inches(5.25),
            0,
            0,
            inches(7.25),
            inches(5.25),
            envelope=True,
            font_pt=11.0,
            line_height=1.35,
        ),
    )
}


def label_stock(labels: str) -> LabelStock:
    try:
        return LABEL_STOCKS[labels]
    except KeyError:
        raise ValueError(f"Unknown labels {labels!r}; expected one of {', '.join(LABEL_STOCKS)}") from None


def _mm(value: float) -> str:
    return f"{round(value, 3):g}mm"


@cache
def geometry_css() -> str:
    """The page sizes and card boxes of every format, sheet and label stock, as CSS."""
    rules: list[str] = []
    for fmt in FORMATS.values():
        b, w, h, pw = fmt.bleed, fmt.flat_width, fmt.flat_height, fmt.panel_width
        rules.append(f"@page card-{fmt.slug} {{ size: {_mm(w)} {_mm(h)}; bleed: {_mm(b)}; margin: 0 }}")
        rules.append(f".sheet.card-{fmt.slug} {{ page: card-{fmt.slug}; width: {_mm(w)}; height: {_mm(h)} }}")
        sel = f".fmt-{fmt.slug}"
        rules.append(f"{sel} {{ width: {_mm(w + 2 * b)}; height: {_mm(h + 2 * b)}; font-size: {fmt.scale:g}em }}")
        # A panel is the finished card face; art boxes extend into the bleed on the sides
        # that are cut (never across the fold).
        rules.append(f"{sel} .panel {{ top: {_mm(b)}; width: {_mm(pw)}; height: {_mm(h)} }}")
        rules.append(f"{sel} .panel.first {{ left: {_mm(b)} }}")
        rules.append(f"{sel} .panel.second {{ left: {_mm(b + pw)} }}")
        # The front artwork is clipped to the panel plus its bleed: never across the fold.
        fold_side = 0.0 if fmt.folded else b
        clip = f"top: {_mm(-b)}; right: {_mm(-b)}; bottom: {_mm(-b)}; left: {_mm(-fold_side)}"
        rules.append(f"{sel} .art-clip {{ {clip} }}")
        rules.append(
            f"{sel} .art-inner {{ top: {_mm(b)}; left: {_mm(fold_side)}; width: {_mm(pw)}; height: {_mm(h)} }}"
        )
        rules.append(f"{sel} .seq {{ left: {_mm(b + 3)}; bottom: {_mm(max(0.2, b - 2.9))} }}")
    for paper in PAPERS.values():
        for orientation in ("portrait", "landscape"):
            rules.append(f"@page {paper.slug}-{orientation} {{ size: {paper.slug} {orientation}; margin: 0 }}")
            width, height = (paper.width, paper.height) if orientation == "portrait" else (paper.height, paper.width)
            rules.append(
                f".sheet.{paper.slug}-{orientation} {{ page: {paper.slug}-{orientation}; "
                f"width: {_mm(width)}; height: {_mm(height)} }}"
            )
    for stock in LABEL_STOCKS.values():
        rules.append(f"@page {stock.page_name} {{ size: {_mm(stock.page_width)} {_mm(stock.page_height)}; margin: 0 }}")
        rules.append(
            f".sheet.{stock.page_name} {{ page: {stock.page_name}; width: {_mm(stock.page_width)}; "
            f"height: {_mm(stock.page_height)} }}"
        )
        rules.append(
            f".{stock.page_name} .label {{ width: {_mm(stock.label_width)}; height: {_mm(stock.label_height)} }}"
        )
        rules.append(
            f".{stock.page_name} .address {{ font-size: {stock.font_pt:g}pt; line-height: {stock.line_height:g} }}"
        )
        padding = f"left: {_mm(stock.padding_left)}; right: {_mm(stock.padding_right)}"
        rules.append(f".{stock.page_name} .label .address {{ {padding} }}")
    # Measuring messages: pages so tall that no message reaches their end.
    rules.append("@page measure { size: 500mm 5000mm; margin: 0 }")
    rules.append(".measure .sheet { page: measure }")
    return "\n".join(rules) + "\n"
