"""Print-ready PDFs of greeting cards, address labels and a manifest: plain data in, bytes out.

This module never touches the database: callers turn Card and CardDesign rows into the frozen
dataclasses of specs.py (CardDesign.spec() helps) and store the bytes that come back.

Cards are laid out with WeasyPrint from the templates in templates/cards/ and one shared
stylesheet (campaigns/static/cards/cards.css, the rules of every artwork from artworks.py and the
geometry from formats.py), built once per process. Every text that comes from people (message,
name, address, headline) is escaped by the template engine, and WeasyPrint may only read our own
assets (see fetcher.py). What differs from one artwork to another comes from its entry in the
registry (artworks.py).

Output is deterministic: no creation date, and the PDF identifier is a hash of the content, so
the same cards render to the same bytes.
"""

from __future__ import annotations

import atexit
import base64
import csv
import dataclasses
import functools
import gc
import hashlib
import io
import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.template.loader import render_to_string
from holidays.registry import COUNTRIES
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from campaigns.printing.artworks import ARTWORKS, COMMON_ORNAMENTS, Artwork, artworks_css
from campaigns.printing.fetcher import STATIC_DIR, card_asset_fetcher
from campaigns.printing.formats import (
    SHEETS,
    CardFormat,
    Imposition,
    geometry_css,
    imposition,
    label_stock,
    page_geometry,
)
from campaigns.printing.pdfjoin import NoCodeToReuse, pdf_fragment
from campaigns.printing.specs import DEFAULT_ACCENT, DesignSpec, PrintCard, Recipient
from nurture.lib.address import ADDRESS_FIELDS, postal_zone

if TYPE_CHECKING:
    from weasyprint.document import Document

# Per artwork, from the registry (artworks.py).
DEFAULT_HEADLINES = {entry.slug: entry.headline for entry in ARTWORKS}
# The ornaments each artwork uses, besides the flourish and sprig every card has (COMMON_ORNAMENTS).
ARTWORK_ORNAMENTS = {entry.slug: entry.ornaments for entry in ARTWORKS}
MANIFEST_HEADER = (
    "sequence_code",
    "name",
    "company",
    *ADDRESS_FIELDS,
    "design",
    "postal_zone",
)
ZONES_HEADER = ("country", "postal_zone", "cards")
PX_PER_MM = 96 / 25.4
PT_PER_MM = 72 / 25.4

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class CardDoesNotFit(ValueError):
    """A card's message is longer than its panel; it is refused rather than cut."""

    def __init__(self, sequence_code: str, problem: str) -> None:
        super().__init__(f"Card {sequence_code or '(preview)'}: {problem}")
        self.sequence_code = sequence_code
        self.problem = problem


# ---- Shared, per-process resources ---------------------------------------------------------


@functools.cache
def _font_config() -> FontConfiguration:
    return FontConfiguration()


@functools.cache
def _stylesheets() -> tuple[CSS, ...]:
    """The card stylesheet, parsed once per process and shared by every rendering: what every
    card shares (cards.css), then each artwork's own rules, then the geometry of the formats."""
    fetcher = card_asset_fetcher()
    return (
        CSS(filename=str(STATIC_DIR / "cards.css"), url_fetcher=fetcher, font_config=_font_config()),
        CSS(string=artworks_css(), url_fetcher=fetcher, font_config=_font_config()),
        CSS(string=geometry_css(), url_fetcher=fetcher, font_config=_font_config()),
    )


def _mix(colour: str, amount: float, base: tuple[int, int, int] = (255, 255, 255)) -> str:
    """``amount`` of ``colour`` over ``base`` (white by default)."""
    rgb = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(b + (c - b) * amount):02x}" for c, b in zip(rgb, base, strict=True))


@functools.lru_cache(maxsize=256)
def palette(accent: str) -> dict[str, str]:
    """The colours of a design, all derived from its accent colour."""
    accent = accent.lower()
    return {
        "accent": accent,
        "soft": _mix(accent, 0.55),
        "tint": _mix(accent, 0.14),
        "paper": _mix(accent, 0.04),
        "shade": _mix(accent, 0.72, (0, 0, 0)),
    }


@functools.cache
def _ornament_source(name: str) -> str:
    return (STATIC_DIR / "art" / f"{name}.svg").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=256)
def _ornament_uri(name: str, accent: str) -> str:
    """An ornament recoloured for an accent colour, as a data: URL.

    The SVG files are drawn in the default palette; each of its colours is replaced by the
    same role in the design's palette (in one pass, so replacements never chain).
    """
    default, wanted = palette(DEFAULT_ACCENT), palette(accent)
    mapping = {default[role]: wanted[role] for role in default}
    pattern = re.compile("|".join(re.escape(colour) for colour in mapping), re.IGNORECASE)
    svg = pattern.sub(lambda match: mapping[match.group(0).lower()], _ornament_source(name))
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# ---- Text helpers ----------------------------------------------------------------------------


def message_paragraphs(message: str) -> list[list[str]]:
    """Paragraphs (separated by blank lines) of lines, as plain text."""
    text = _CONTROL.sub("", message.replace("\r\n", "\n").replace("\r", "\n")).replace("\t", " ")
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return [[line.strip() for line in paragraph.split("\n")] for paragraph in paragraphs if paragraph.strip()]


# Countries whose addresses put the postal code before the town ("75008 Paris").
# fmt: off
_POSTCODE_FIRST = frozenset({
    "AT", "BE", "CH", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IS", "IT",
    "LI", "LT", "LU", "LV", "MC", "NL", "NO", "PL", "PT", "RO", "RS", "SE", "SI", "SK",
})
# fmt: on
# Countries that write "Town, REGION POSTCODE" (or without the comma).
_REGION_AFTER_TOWN = frozenset({"US", "CA", "AU"})
_POSTCODE_OWN_LINE = frozenset({"GB", "IE"})


@functools.cache
def _country_names() -> dict[str, str]:
    names = {}
    for class_name, code, *_ in COUNTRIES.values():
        names[code] = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", class_name)
    return names


def country_name(code: str) -> str:
    code = code.strip().upper()
    return _country_names().get(code, code)


def address_lines(recipient: Recipient) -> list[str]:
    """The recipient's address as printed, in the order the destination's post expects."""
    r = recipient
    country = r.country.strip().upper()

    def join(*parts: str, sep: str = " ") -> str:
        return sep.join(part.strip() for part in parts if part.strip())

    lines = [r.name, r.company, r.line1, r.line2]
    if country in _POSTCODE_FIRST:
        lines.append(join(r.postal_code, r.city))
    elif country in _POSTCODE_OWN_LINE:
        lines += [join(r.city.upper() if country == "GB" else r.city, r.region), r.postal_code]
    elif country in _REGION_AFTER_TOWN:
        sep = " " if country == "AU" else ", "
        lines.append(join(join(r.city), join(r.region, r.postal_code), sep=sep))
    else:
        lines.append(join(r.city, r.region, r.postal_code))
    home = str(getattr(settings, "CARDS_HOME_COUNTRY", "") or "").upper()
    if country and country != home:
        lines.append(country_name(country).upper())
    return [_CONTROL.sub("", line).strip() for line in lines if line and line.strip()]


# ---- Views for the templates -------------------------------------------------------------------


@dataclass(frozen=True)
class _DesignView:
    key: str
    artwork_class: str
    palette: dict[str, str]
    ornaments: tuple[tuple[str, str], ...]
    image_url: str


@dataclass(frozen=True)
class _CardView:
    code: str
    fmt: CardFormat
    design: DesignSpec
    artwork: Artwork
    design_key: str
    headline: str
    paragraphs: list[list[str]]
    address: list[str]


@dataclass(frozen=True)
class _Placed:
    card: _CardView
    face: str  # outside, inside (folded) or front, back (postcards)
    left: str
    top: str
    #: The face is drawn from its design's shared page (``outside_pdf``): only the code is laid out.
    reused: bool = False


@dataclass(frozen=True)
class Underlay:
    """A design's shared outside page placed on a side: its top-left corner (the bleed's), in points
    from the top-left corner of the side's media box."""

    design: DesignSpec
    x: float
    top: float


@dataclass(frozen=True)
class _MarkView:
    kind: str
    direction: str
    extent: str
    left: str
    top: str
    length: str


@dataclass
class _Side:
    page_name: str
    items: list[_Placed] = field(default_factory=list)
    marks: list[_MarkView] = field(default_factory=list)
    slug: str = ""
    slug_left: str = "0"
    slug_top: str = "0"
    underlays: list[Underlay] = field(default_factory=list)
    #: A page to add before this one: the card's outside, drawn from its design's shared page with
    #: the sequence code this side prints (one card per sheet only, where the two are aligned).
    outside_before: Underlay | None = None


def _num(value: float) -> str:
    # Formatted here, not by the template engine, which would localise the decimal point.
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _image_url(front_image: str, media_root: str) -> str:
    if not front_image:
        return ""
    # Any path, even a hostile one, only becomes a file URL: the fetcher decides what may be read.
    return (Path(media_root) / front_image).resolve().as_uri()


class _Designs:
    """The designs of one rendering: a CSS class and a stylesheet for each, in order of use."""

    def __init__(self) -> None:
        self.media_root = str(settings.MEDIA_ROOT)
        self.keys: dict[DesignSpec, str] = {}
        self.stylesheets: list[CSS] = []

    def key(self, design: DesignSpec) -> str:
        key = self.keys.get(design)
        if key is None:
            key, stylesheet = _design_stylesheet(design, self.media_root)
            self.keys[design] = key
            self.stylesheets.append(stylesheet)
        return key


@functools.lru_cache(maxsize=128)
def _design_stylesheet(design: DesignSpec, media_root: str) -> tuple[str, CSS]:
    """A design's colours and artwork as a stylesheet, parsed once per process.

    Its class name is derived from the design's content, so it is the same in every process.
    """
    digest = hashlib.sha256(repr(dataclasses.astuple(design)).encode()).hexdigest()[:12]
    entry = design.artwork_entry
    names = (*COMMON_ORNAMENTS, *entry.ornaments)
    view = _DesignView(
        key=f"d-{digest}",
        artwork_class=entry.css_class,
        palette=palette(design.accent_color),
        ornaments=tuple((name, _ornament_uri(name, design.accent_color.lower())) for name in names),
        image_url=_image_url(design.front_image, media_root) if entry.uploaded_image else "",
    )
    css = render_to_string("cards/design.css", {"design": view})
    return view.key, CSS(
        string=css, base_url=STATIC_DIR.as_uri() + "/", url_fetcher=card_asset_fetcher(), font_config=_font_config()
    )


def _card_view(card: PrintCard, designs: _Designs) -> _CardView:
    return _CardView(
        code=card.sequence_code,
        fmt=page_geometry(card.design.format),
        design=card.design,
        artwork=card.design.artwork_entry,
        design_key=designs.key(card.design),
        headline=card.design.display_headline,
        paragraphs=message_paragraphs(card.message),
        address=address_lines(card.recipient),
    )


def _faces(fmt: CardFormat) -> tuple[str, str]:
    return ("outside", "inside") if fmt.folded else ("front", "back")


def _marks(layout: Imposition) -> list[_MarkView]:
    views = []
    for mark in layout.marks:
        vertical = mark.vertical
        views.append(
            _MarkView(
                kind=mark.kind,
                direction="v" if vertical else "h",
                extent="height" if vertical else "width",
                left=_num(min(mark.x1, mark.x2)),
                top=_num(min(mark.y1, mark.y2)),
                length=_num(abs(mark.y2 - mark.y1) if vertical else abs(mark.x2 - mark.x1)),
            )
        )
    return views


def _runs(views: list[_CardView]) -> Iterator[list[_CardView]]:
    """Consecutive cards of the same format (a sheet holds one format only)."""
    run: list[_CardView] = []
    for view in views:
        if run and run[0].fmt != view.fmt:
            yield run
            run = []
        run.append(view)
    if run:
        yield run


def _sides(
    views: list[_CardView], sheet: str, faces: tuple[str, ...] = (), *, reuse: bool = False, omit: bool = False
) -> list[_Side]:
    """The pages to print, in duplex order: each sheet's front side, then its back side.

    ``reuse``: the outside (or postcard front) of each card is left to its design's shared page,
    placed under the side as an underlay; the side itself lays out the sequence codes only.
    ``omit`` (with reuse, one card per sheet): the outside is not laid out at all; the back side
    says where it goes (``outside_before``), and the PDF gets it from the shared page and the code
    of the back side.
    """
    sides: list[_Side] = []
    for run in _runs(views):
        layout = imposition(run[0].fmt.slug, sheet)
        bleed = layout.format.bleed
        for start in range(0, len(run), layout.per_sheet):
            group = run[start : start + layout.per_sheet]
            front_face, back_face = _faces(layout.format)
            skipped: Underlay | None = None
            for face in faces or (front_face, back_face):
                if omit and reuse and layout.sheet == "card" and face == front_face:
                    place = layout.slots[0]
                    corner = (layout.page_bleed + place.x - bleed, layout.page_bleed + place.y - bleed)
                    skipped = Underlay(group[0].design, corner[0] * PT_PER_MM, corner[1] * PT_PER_MM)
                    continue
                side = _Side(page_name=layout.page_name, outside_before=skipped)
                skipped = None
                for view, slot in zip(group, layout.slots, strict=False):
                    place = slot if face == front_face else layout.back_slot(slot)
                    reused = reuse and face == front_face
                    side.items.append(_Placed(view, face, _num(place.x - bleed), _num(place.y - bleed), reused))
                    if reused:
                        corner = (layout.page_bleed + place.x - bleed, layout.page_bleed + place.y - bleed)
                        side.underlays.append(Underlay(view.design, corner[0] * PT_PER_MM, corner[1] * PT_PER_MM))
                if layout.sheet != "card":
                    if face == front_face:
                        side.marks = _marks(layout)
                    _add_slug(side, layout, group, face == front_face)
                sides.append(side)
    return sides


def _add_slug(side: _Side, layout: Imposition, group: list[_CardView], front: bool) -> None:
    """A line in the sheet's margin naming its cards and side, to keep the stack in order."""
    codes = group[0].code if len(group) == 1 else f"{group[0].code} to {group[-1].code}"
    flip = "flip on long edge" if layout.duplex == "long-edge" else "flip on short edge"
    what = "front" if front else f"back (print double-sided, {flip})"
    side.slug = f"{codes} · {what}" if codes else what
    first = layout.slots[0]
    last = layout.slots[-1]
    side.slug_left = _num(first.x + 8)
    side.slug_top = _num(last.y + layout.format.flat_height + layout.format.bleed + 2)


# ---- WeasyPrint ----------------------------------------------------------------------------------


def _layout(html: str, stylesheets: Sequence[CSS] = ()) -> Document:
    document = HTML(string=html, base_url=STATIC_DIR.as_uri() + "/", url_fetcher=card_asset_fetcher()).render(
        stylesheets=[*_stylesheets(), *stylesheets],
        font_config=_font_config(),
        presentational_hints=False,
        # One image cache per rendering: each design's artwork is decoded once per document.
        cache={},
    )
    # Cards carry no links and no attachments, whatever the HTML said.
    document.metadata.attachments = []
    for page in document.pages:
        page.links = []
    return document


def _write(document: Document) -> bytes:
    # pdf_identifier=True: the /ID is a hash of the content, so equal input gives equal bytes.
    pdf: bytes = document.write_pdf(pdf_identifier=True)
    return pdf


@dataclass(frozen=True)
class Overflow:
    """A message measured in its frame, in millimetres."""

    sequence_code: str
    needed: float
    available: float
    #: Of ``needed``, the part the text itself takes (without the ornament above it).
    text: float = 0.0

    @property
    def fits(self) -> bool:
        return self.needed <= self.available + 0.01


def _classes(box: Any) -> list[str]:
    element = getattr(box, "element", None)
    if element is None:
        return []
    return str(element.get("class", "")).split()


def measure_messages(document: Document) -> list[Overflow]:
    """The height every message needs and the height its frame has, in document order."""
    results: list[Overflow] = []
    seen: set[int] = set()
    for page in document.pages:
        for box in page._page_box.descendants(placeholders=True):
            if "msg-frame" not in _classes(box) or id(box.element) in seen:
                continue
            seen.add(id(box.element))
            inner = next((child for child in box.children if "msg" in _classes(child)), None)
            needed = inner.margin_height() if inner is not None else 0.0
            ornament = sum(
                child.margin_height() for child in (inner.children if inner else []) if "flourish" in _classes(child)
            )
            results.append(
                Overflow(
                    str(box.element.get("data-code", "")),
                    needed=needed / PX_PER_MM,
                    available=box.height / PX_PER_MM,
                    text=(needed - ornament) / PX_PER_MM,
                )
            )
    return results


def describe_overflow(overflow: Overflow, message: str, *, postcard: bool) -> str:
    where = "the message area" if postcard else "the inside panel"
    words = len(message.split())
    text = overflow.text or overflow.needed
    excess = (overflow.needed - overflow.available) / text if text else 0.0
    # Words to remove, in proportion to the height to save, with a tenth more for the last lines'
    # slack, rounded up to a multiple of 5.
    cut = max(5, 5 * math.ceil(words * excess * 1.1 / 5)) if words else 0
    advice = f"shorten it by about {cut} words" if cut else "remove some blank lines"
    # Rounded outwards, so that a small overflow never reads "needs 12.0 cm but has 12.0 cm".
    needed, available = math.ceil(overflow.needed - 1e-6) / 10, math.floor(overflow.available + 1e-6) / 10
    return f"The message needs {needed:.1f} cm but {where} has {available:.1f} cm; {advice}."


def _render_cards_document(
    cards: Sequence[PrintCard],
    sheet: str,
    *,
    faces: tuple[str, ...] = (),
    measure: bool = False,
    sides: list[_Side] | None = None,
    reuse: bool = False,
    omit: bool = False,
) -> Document:
    """Lay the cards out. ``measure``: on very tall pages, so that a message that runs past its
    frame is laid out in full and can be measured (on a real page it stops at the page's end).
    ``reuse``: without the outsides, which ``sides`` (filled in) says where to place."""
    if sheet not in SHEETS:
        raise ValueError(f"Unknown sheet {sheet!r}; expected one of {', '.join(SHEETS)}")
    designs = _Designs()
    views = [_card_view(card, designs) for card in cards]
    laid_out = _sides(views, sheet, faces, reuse=reuse, omit=omit)
    if sides is not None:
        sides.extend(laid_out)
    context = {"title": "Cards", "measure": measure, "omit": omit, "sides": laid_out}
    return _layout(render_to_string("cards/cards.html", context), designs.stylesheets)


def _check_fits(document: Document, cards: Sequence[PrintCard]) -> None:
    """Raise CardDoesNotFit for the first message that runs past its frame."""
    by_code = {card.sequence_code: card for card in cards}
    for overflow in measure_messages(document):
        if not overflow.fits:
            card = by_code.get(overflow.sequence_code, cards[0])
            # Measured again on its own, in full: on the page, the overflow stops at the page's end.
            full = measure_message(card.message, card.design)
            problem = describe_overflow(full, card.message, postcard=page_geometry(card.design.format).is_postcard)
            raise CardDoesNotFit(overflow.sequence_code, problem)


@functools.lru_cache(maxsize=64)
def _outside_pdf(design: DesignSpec, media_root: str) -> bytes:
    face = _faces(page_geometry(design.format))[0]
    blank = PrintCard(sequence_code="", design=design, message="", recipient=Recipient(name=""))
    return _write(_render_cards_document([blank], "card", faces=(face,)))


def outside_pdf(design: DesignSpec) -> bytes:
    """The outside of a folded card (the front of a postcard) of a design, without a sequence code:
    one page the size of the card and its bleed, the same for every card of the design.

    Rendered once per process and design and reused for every card of every batch that follows
    (the rendering is deterministic, so this is what each card's own rendering would draw).
    """
    return _outside_pdf(design, str(settings.MEDIA_ROOT))


def measure_message(message: str, design: DesignSpec) -> Overflow:
    """The height a message needs in the design's message frame, and the height the frame has."""
    card = PrintCard(sequence_code="", design=design, message=message, recipient=SAMPLE_RECIPIENT)
    face = "inside" if page_geometry(design.format).folded else "back"
    return measure_messages(_render_cards_document([card], "card", faces=(face,), measure=True))[0]


# ---- The interface --------------------------------------------------------------------------------


def render_cards_pdf(cards: Sequence[PrintCard], *, sheet: str) -> bytes:
    """The cards, print-ready, in duplex order (each sheet's front, then its back).

    ``sheet="card"``: one card per page, the size of the flat card plus its bleed (trim and bleed
    boxes set). ``"a4"``/``"letter"``: as many cards as fit with bleed, crop marks around them.
    Raises CardDoesNotFit when a message is longer than its panel.
    """
    if not cards:
        raise ValueError("No cards to render")
    document = _render_cards_document(cards, sheet)
    _check_fits(document, cards)
    return _write(document)


def render_cards_fragment(cards: Sequence[PrintCard], *, sheet: str) -> bytes:
    """The cards as ``render_cards_pdf`` prints them, as a fragment ready to be joined (pdfjoin.py),
    rendering less: what does not depend on the customer is rendered once and reused.

    The outside of a folded card (the front of a postcard) is the same for every card of a design:
    ``outside_pdf`` renders it once, and each card's outside side draws that page as a form
    XObject (one object in the fragment, referenced by every page that shows it), under a layer
    WeasyPrint lays out with the card's sequence code, the crop marks and the sheet's slug line as
    real text and lines. The inside (the back of a postcard), the personal part, is laid out per
    card as before. Page sizes, boxes, duplex order and the text a reader extracts are those of
    ``render_cards_pdf``. Raises CardDoesNotFit like it.
    """
    if not cards:
        raise ValueError("No cards to render")
    try:
        # One card per sheet: the outside pages are not laid out at all (a page costs WeasyPrint
        # about as much as a short message does); each is its design's page and the code of the
        # card's inside, which stands in the same place.
        return _cards_fragment(cards, sheet, omit=True)
    except NoCodeToReuse:
        return _cards_fragment(cards, sheet, omit=False)


def _cards_fragment(cards: Sequence[PrintCard], sheet: str, *, omit: bool) -> bytes:
    sides: list[_Side] = []
    document = _render_cards_document(cards, sheet, sides=sides, reuse=True, omit=omit)
    _check_fits(document, cards)
    keys: dict[DesignSpec, str] = {}
    forms: dict[str, bytes] = {}

    def key_of(design: DesignSpec) -> str:
        key = keys.get(design)
        if key is None:
            key = keys[design] = f"Outside{len(keys) + 1}"
            forms[key] = outside_pdf(design)
        return key

    underlays: dict[int, list[tuple[str, float, float]]] = {}
    outsides: dict[int, str] = {}
    for index, side in enumerate(sides):
        for underlay in side.underlays:
            underlays.setdefault(index, []).append((key_of(underlay.design), underlay.x, underlay.top))
        if side.outside_before is not None:
            outsides[index] = key_of(side.outside_before.design)
    if len(document.pages) != len(sides):
        raise RuntimeError(f"{len(sides)} sides laid out on {len(document.pages)} pages")
    return pdf_fragment(_write(document), forms=forms, underlays=underlays, outsides=outsides)


def render_labels_pdf(cards: Sequence[PrintCard], *, labels: str) -> bytes:
    """Address labels (or envelopes) in the order of the cards, each with its sequence code."""
    if not cards:
        raise ValueError("No cards to render")
    stock = label_stock(labels)
    positions = stock.positions()
    pages: list[list[dict[str, Any]]] = []
    for index, card in enumerate(cards):
        if index % stock.per_page == 0:
            pages.append([])
        slot = positions[index % stock.per_page]
        lines = address_lines(card.recipient)
        pages[-1].append(
            {
                "code": card.sequence_code,
                "address": lines,
                "address_top": "" if stock.envelope else _num(stock.address_top(len(lines))),
                "left": _num(slot.x),
                "top": _num(slot.y),
            }
        )
    html = render_to_string("cards/labels.html", {"title": f"Labels ({stock.name})", "stock": stock, "pages": pages})
    return _write(_layout(html))


def _neutralise(value: str) -> str:
    # Spreadsheets run cells that start like a formula; a leading quote makes them text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def render_manifest_csv(cards: Iterable[PrintCard], *, batch_code: str) -> bytes:
    """One row per card, in order (UTF-8, comma-separated, CRLF line ends), with its postal zone.

    ``batch_code`` is not a column: every sequence code already starts with it.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MANIFEST_HEADER)
    for card in cards:
        r = card.recipient
        row = (
            card.sequence_code,
            r.name,
            r.company,
            r.line1,
            r.line2,
            r.city,
            r.region,
            r.postal_code,
            r.country,
            card.design.slug,
            postal_zone(r.country, r.postal_code),
        )
        writer.writerow([_neutralise(str(value)) for value in row])
    return out.getvalue().encode("utf-8")


def zone_counts(cards: Iterable[PrintCard], counted: dict[tuple[str, str], int]) -> Iterator[PrintCard]:
    """The cards, passed on as they come, counted into ``counted`` by (country, postal zone)."""
    for card in cards:
        key = (card.recipient.country.strip().upper(), postal_zone(card.recipient.country, card.recipient.postal_code))
        counted[key] = counted.get(key, 0) + 1
        yield card


def render_zones_csv(counted: dict[tuple[str, str], int]) -> bytes:
    """The number of cards per country and postal zone (what bulk postage is priced by), sorted by
    country and zone, then a total row; UTF-8, CRLF line ends like the manifest."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ZONES_HEADER)
    for (country, zone), count in sorted(counted.items()):
        writer.writerow([_neutralise(country), _neutralise(zone), count])
    writer.writerow(["total", "", sum(counted.values())])
    return out.getvalue().encode("utf-8")


SAMPLE_RECIPIENT = Recipient(
    name="Alex Morgan",
    company="Morgan & Reid Ltd",
    line1="12 Harbour Street",
    line2="Suite 4",
    city="Bristol",
    postal_code="BS1 4RN",
    country="GB",
)
# A preview's message: its artwork's sample, or the thank-you card's for one without.
SAMPLE_MESSAGES = {entry.slug: entry.sample_message for entry in ARTWORKS if entry.sample_message}


def sample_card(design: DesignSpec) -> PrintCard:
    message = SAMPLE_MESSAGES.get(design.artwork, SAMPLE_MESSAGES["thank_you"])
    return PrintCard(sequence_code="PREVIEW", design=design, message=message, recipient=SAMPLE_RECIPIENT)


def render_design_preview_pdf(design: DesignSpec) -> bytes:
    """One card of the design with sample name, message and address, on its own card sheet."""
    return render_cards_pdf([sample_card(design)], sheet="card")


def render_design_preview_png(design: DesignSpec, *, page: int = 1, dpi: int = 72) -> bytes:
    """A page of the design preview as PNG (page 1: outside or front, page 2: inside or back)."""
    if page not in (1, 2):
        raise ValueError("A card preview has pages 1 and 2")
    if not 18 <= dpi <= 600:
        raise ValueError("dpi must be between 18 and 600")
    return pdf_page_png(render_design_preview_pdf(design), page=page, dpi=dpi)


def pdf_page_png(pdf: bytes, *, page: int = 1, dpi: int = 72) -> bytes:
    """Rasterise one page of a PDF with poppler's pdftoppm."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise RuntimeError("pdftoppm (poppler-utils) is not installed")
    with tempfile.TemporaryDirectory(prefix="card-preview-") as tmp:
        source = Path(tmp) / "card.pdf"
        source.write_bytes(pdf)
        target = Path(tmp) / "page"
        args = [pdftoppm, "-f", str(page), "-l", str(page), "-r", str(int(dpi)), "-png", "-singlefile"]
        # Fixed arguments, our own temporary files: nothing from users reaches the command line.
        subprocess.run([*args, str(source), str(target)], check=True, capture_output=True, timeout=60)  # noqa: S603
        return (Path(tmp) / "page.png").read_bytes()


def _release_weasyprint_objects() -> None:
    """Drop the cached stylesheets and font configuration while the process is still whole.

    They hold Pango and GLib objects that cffi releases with g_object_unref. Left to the
    interpreter's final garbage collection, that runs after GLib's own teardown and the process
    dies with a segmentation fault on its way out (seen after seed_demo had checked card fits).
    """
    _design_stylesheet.cache_clear()
    _outside_pdf.cache_clear()
    _stylesheets.cache_clear()
    _font_config.cache_clear()
    gc.collect()


atexit.register(_release_weasyprint_objects)
