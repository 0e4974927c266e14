import csv
import io
import math
from typing import Any

import pytest
from PIL import Image

from campaigns.models import CardDesign
from campaigns.printing.formats import FORMATS, LABEL_STOCKS, PAPERS, imposition, page_geometry
from campaigns.printing.render import (
    MANIFEST_HEADER,
    CardDoesNotFit,
    _ornament_uri,
    address_lines,
    render_cards_pdf,
    render_design_preview_pdf,
    render_design_preview_png,
    render_labels_pdf,
    render_manifest_csv,
)
from campaigns.printing.specs import DesignSpec, PrintCard, Recipient
from tests.campaigns.printing import (
    card,
    colours,
    design,
    grey,
    media_mm,
    mm,
    page_texts,
    pdf_dict,
    pdffonts,
    png_is_blank,
    read,
    render_page_png,
)

POSTCARD_FORMATS = [fmt for fmt in FORMATS if not FORMATS[fmt].folded]


def cards_of(fmt: str, count: int, **overrides) -> list[PrintCard]:
    return [
        card(n, format=fmt, message=f"Dear Person {n},\n\nThank you for everything.\n\nJordan", **overrides)
        for n in range(1, count + 1)
    ]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_card_sheet_is_the_flat_card_plus_bleed(fmt):
    geometry = page_geometry(fmt)
    reader = read(render_cards_pdf(cards_of(fmt, 2), sheet="card"))
    assert len(reader.pages) == 4
    for page in reader.pages:
        assert media_mm(page) == pytest.approx((geometry.media_width, geometry.media_height), abs=0.1)
        trim = page.trimbox
        assert (mm(trim.width), mm(trim.height)) == pytest.approx((geometry.flat_width, geometry.flat_height), abs=0.1)
        # The trim box sits in the middle: the bleed is on every side.
        assert mm(trim.left - page.mediabox.left) == pytest.approx(geometry.bleed, abs=0.1)
        assert mm(trim.bottom - page.mediabox.bottom) == pytest.approx(geometry.bleed, abs=0.1)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("sheet", list(PAPERS))
def test_paper_sheets_hold_as_many_cards_as_fit(fmt, sheet):
    layout = imposition(fmt, sheet)
    count = layout.per_sheet + 1
    reader = read(render_cards_pdf(cards_of(fmt, count), sheet=sheet))
    sheets = math.ceil(count / layout.per_sheet)
    assert len(reader.pages) == 2 * sheets
    paper = PAPERS[sheet]
    expected = (paper.width, paper.height) if layout.page_name.endswith("portrait") else (paper.height, paper.width)
    for page in reader.pages:
        assert media_mm(page) == pytest.approx(expected, abs=0.1)


def test_folded_cards_come_outside_then_inside_for_each_card():
    texts = page_texts(render_cards_pdf(cards_of("a6_folded", 3), sheet="card"))
    assert len(texts) == 6
    for n in range(1, 4):
        outside, inside = texts[2 * n - 2], texts[2 * n - 1]
        code = f"B12-{n:03d}"
        assert "Happy" in outside and "Anniversary" in outside
        assert "Dear Person" not in outside
        assert f"Dear Person {n}," in inside
        assert "Thank you for everything." in inside
        assert code in outside and code in inside
        # Only this card's code is on its pages.
        assert all(f"B12-{m:03d}" not in outside + inside for m in range(1, 4) if m != n)


@pytest.mark.parametrize("fmt", POSTCARD_FORMATS)
def test_postcards_come_front_then_back_with_the_address(fmt):
    texts = page_texts(render_cards_pdf(cards_of(fmt, 2, artwork="thank_you"), sheet="card"))
    assert len(texts) == 4
    front, back = texts[0], texts[1]
    assert "Thank You" in front and "Dear Person" not in front
    assert "Dear Person 1," in back
    assert "Ann Example 1" in back and "BS1 4RN" in back and "UNITED KINGDOM" in back
    assert "B12-001" in front and "B12-001" in back
    assert "Dear Person 2," in texts[3]


def _text_positions(reader, page_index: int) -> dict[str, tuple[float, float]]:
    found: dict[str, tuple[float, float]] = {}

    def visit(text, cm, tm, font, size):
        if text.strip():
            found.setdefault(text.strip(), (cm[4] + tm[4] * cm[0], cm[5] + tm[5] * cm[3]))

    reader.pages[page_index].extract_text(visitor_text=visit)
    return found


def test_several_up_sheets_keep_duplex_order_and_rows():
    pdf = render_cards_pdf(cards_of("a6_postcard", 3), sheet="a4")
    reader = read(pdf)
    texts = page_texts(pdf)
    assert len(texts) == 4  # sheet 1 front and back, sheet 2 front and back
    assert "B12-001" in texts[0] and "B12-002" in texts[0] and "B12-003" not in texts[0]
    assert "Dear Person 1," in texts[1] and "Dear Person 2," in texts[1] and "Dear Person 3" not in texts[1]
    assert "B12-003" in texts[2] and "Dear Person 3," in texts[3]
    assert "back (print double-sided, flip on long edge)" in texts[1]
    # A back is at the height of its front (the sheet turns about its vertical axis).
    front, back = _text_positions(reader, 0), _text_positions(reader, 1)
    for code in ("B12-001", "B12-002"):
        assert back[code][1] == pytest.approx(front[code][1], abs=1)
    assert front["B12-001"][1] > front["B12-002"][1]  # first card on top (PDF y grows upwards)


def test_crop_marks_are_printed_in_line_with_the_cuts():
    pdf = render_cards_pdf(cards_of("a6_postcard", 2), sheet="a4")
    dpi = 150
    image = Image.open(io.BytesIO(render_page_png(pdf, dpi=dpi))).convert("L")
    layout = imposition("a6_postcard", "a4")
    # Two vertical cuts (marks above and below), four horizontal ones (two per card, marks left and right).
    assert len(layout.marks) == 2 * 2 + 4 * 2

    def px(value: float) -> int:
        return round(value / 25.4 * dpi)

    for mark in layout.marks:
        x, y = px((mark.x1 + mark.x2) / 2), px((mark.y1 + mark.y2) / 2)
        darkest = min(grey(image, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1))
        assert darkest < 200, mark
    # The back side carries no marks: only the cards and the slug line.
    back = Image.open(io.BytesIO(render_page_png(pdf, page=2, dpi=dpi))).convert("L")
    mark = layout.marks[0]
    x, y = px(mark.x1), px((mark.y1 + mark.y2) / 2)
    assert min(grey(back, x + dx, y) for dx in (-1, 0, 1)) > 240


def test_cards_of_different_formats_never_share_a_sheet():
    cards = [*cards_of("a6_postcard", 1), card(2, format="4x6_postcard"), card(3, format="a6_postcard")]
    texts = page_texts(render_cards_pdf(cards, sheet="a4"))
    assert len(texts) == 6
    assert "B12-001" in texts[0] and "B12-002" in texts[2] and "B12-003" in texts[4]


def test_fonts_are_embedded_subsets(tmp_path):
    cards = [
        card(1, typeface="script"),
        card(2, typeface="serif", artwork="thank_you"),
        card(3, typeface="sans", artwork="congratulations"),
    ]
    pdf = render_cards_pdf(cards, sheet="card")
    rows = pdffonts(pdf, tmp_path)
    names = " ".join(row[0] for row in rows)
    assert "Dancing-Script" in names and "Garamond" in names and "Inter" in names
    for row in rows:
        # Columns: name, type..., encoding, emb, sub, uni, object, id
        assert row[-5:-2] == ["yes", "yes", "yes"], row
    # And with pypdf: every font has its file.
    reader = read(pdf)
    for page in reader.pages:
        for font in pdf_dict(page["/Resources"])["/Font"].values():
            font = pdf_dict(font)
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            descriptor = descendant["/FontDescriptor"].get_object()
            assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_output_is_deterministic():
    cards = [*cards_of("a6_folded", 2), card(3, format="a6_postcard", artwork="congratulations")]
    assert render_cards_pdf(cards, sheet="card") == render_cards_pdf(cards, sheet="card")
    assert render_cards_pdf(cards, sheet="letter") == render_cards_pdf(cards, sheet="letter")
    assert render_labels_pdf(cards, labels="l7160") == render_labels_pdf(cards, labels="l7160")
    reader = read(render_cards_pdf(cards, sheet="card"))
    metadata: Any = reader.metadata or {}
    assert "/CreationDate" not in metadata and "/ModDate" not in metadata
    assert metadata.get("/Producer", "").startswith("WeasyPrint")


@pytest.mark.parametrize("artwork", ["anniversary", "thank_you", "congratulations"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_page_of_every_built_in_design_has_ink(artwork, fmt):
    pdf = render_design_preview_pdf(design(format=fmt, artwork=artwork))
    for page in (1, 2):
        assert not png_is_blank(render_page_png(pdf, page=page, dpi=20))


def test_the_accent_colour_is_printed():
    png = render_design_preview_png(design(accent_color="#1d4e89"), page=1, dpi=40)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    printed = colours(image)
    assert any(abs(r - 0x1D) < 30 and abs(g - 0x4E) < 30 and abs(b - 0x89) < 30 for r, g, b in printed)
    assert not any(abs(r - 0x8C) < 12 and abs(g - 0x2F) < 12 and abs(b - 0x39) < 12 for r, g, b in printed)


def test_ornaments_are_recoloured_in_one_pass():
    import base64

    svg = base64.b64decode(_ornament_uri("wreath", "#c08d92").split(",", 1)[1]).decode()
    # The new accent happens to equal the default "soft" colour: it must not be replaced again.
    assert "#c08d92" in svg and "#8c2f39" not in svg


def test_design_preview():
    spec = design(format="5x7_folded", artwork="congratulations", headline="Well done, team!")
    pdf = render_design_preview_pdf(spec)
    texts = page_texts(pdf)
    assert len(texts) == 2
    assert "Well done, team!" in texts[0]
    assert "Dear Alex," in texts[1]
    png = render_design_preview_png(spec, page=2, dpi=36)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (round((254 + 6.35) / 25.4 * 36), round((177.8 + 6.35) / 25.4 * 36))
    with pytest.raises(ValueError, match="pages 1 and 2"):
        render_design_preview_png(spec, page=3)


def _red_png(width: int = 330, height: int = 460) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (220, 20, 20)).save(out, format="PNG")
    return out.getvalue()


def _images_on(reader, page_index: int) -> int:
    """Raster images drawn on a page, looking inside form XObjects too."""

    def count(resources) -> int:
        total = 0
        for xobject in resources.get("/XObject", {}).values():
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Image":
                total += 1
            elif "/Resources" in xobject:
                total += count(xobject["/Resources"].get_object())
        return total

    return count(reader.pages[page_index]["/Resources"])


def test_uploaded_artwork_is_the_whole_front(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "designs").mkdir()
    (tmp_path / "designs" / "front.png").write_bytes(_red_png())
    pdf = render_cards_pdf([card(1, artwork="uploaded", front_image="designs/front.png")], sheet="card")
    reader = read(pdf)
    assert _images_on(reader, 0) == 1
    image = Image.open(io.BytesIO(render_page_png(pdf, dpi=20))).convert("RGB")
    # The right half (front panel) is red to the edge of the bleed; the back panel is not.
    assert image.getpixel((image.width - 1, image.height // 2)) == pytest.approx((220, 20, 20), abs=12)
    assert image.getpixel((image.width // 4, image.height // 2)) == (255, 255, 255)


@pytest.mark.parametrize("path", ["../secret.png", "/etc/passwd", "designs/../../secret.png", "designs/missing.png"])
def test_uploaded_artwork_outside_designs_is_not_read(settings, tmp_path, path):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media" / "designs").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(_red_png())
    pdf = render_cards_pdf([card(1, artwork="uploaded", front_image=path)], sheet="card")
    assert _images_on(read(pdf), 0) == 0


def test_labels_pages_and_order():
    cards = cards_of("a6_folded", 23)
    for slug, stock in LABEL_STOCKS.items():
        pdf = render_labels_pdf(cards, labels=slug)
        reader = read(pdf)
        assert len(reader.pages) == math.ceil(23 / stock.per_page)
        for page in reader.pages:
            assert media_mm(page) == pytest.approx((stock.page_width, stock.page_height), abs=0.1)
        text = "\n".join(page_texts(pdf))
        positions = [text.index(f"B12-{n:03d}") for n in range(1, 24)]
        assert positions == sorted(positions)
        names = [text.index(f"Ann Example {n}\n") for n in range(1, 24)]
        assert names == sorted(names)
        assert text.count("BS1 4RN") == 23


def test_l7160_puts_21_labels_on_a_page_row_by_row():
    pdf = render_labels_pdf(cards_of("a6_folded", 22), labels="l7160")
    first, second = page_texts(pdf)
    assert "B12-021" in first and "B12-022" not in first
    assert "B12-022" in second
    positions = _text_positions(read(pdf), 0)
    # Labels 1, 2, 3 share a row; 4 starts the next one.
    assert positions["B12-001"][1] == pytest.approx(positions["B12-003"][1], abs=0.5)
    assert positions["B12-001"][0] < positions["B12-002"][0] < positions["B12-003"][0]
    assert positions["B12-004"][1] < positions["B12-001"][1]


def test_manifest_rows_match_the_cards():
    cards = [
        *cards_of("a6_folded", 2),
        PrintCard(
            "B12-003",
            design(slug="thanks-a6"),
            "x",
            Recipient("Zoë Ünal", '=HYPERLINK("http://x")', "+44 1", "-2 Flat", "@home", "\tTabbed", "\rCR", "GB"),
        ),
    ]
    data = render_manifest_csv(cards, batch_code="B12")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert tuple(rows[0]) == MANIFEST_HEADER
    assert [row[0] for row in rows[1:]] == ["B12-001", "B12-002", "B12-003"]
    assert rows[1][1:] == [
        "Ann Example 1",
        "Example & Sons Ltd",
        "1 Harbour Street",
        "",
        "Bristol",
        "",
        "BS1 4RN",
        "GB",
        "anniversary-a6",
        "BS1",
    ]
    assert rows[3][1:] == [
        "Zoë Ünal",
        '\'=HYPERLINK("http://x")',
        "'+44 1",
        "'-2 Flat",
        "'@home",
        "'\tTabbed",
        "'\rCR",
        "GB",
        "thanks-a6",
        "CR",
    ]
    assert data.startswith(b"sequence_code,name,company,address_line1")


def test_a_message_that_does_not_fit_is_refused_not_cut():
    long = " ".join(["wonderful"] * 400)
    cards = [*cards_of("a6_folded", 1), card(2, message=long)]
    with pytest.raises(CardDoesNotFit) as error:
        render_cards_pdf(cards, sheet="card")
    assert error.value.sequence_code == "B12-002"
    assert "The message needs" in error.value.problem and "shorten it by about" in error.value.problem


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="No cards"):
        render_cards_pdf([], sheet="card")
    with pytest.raises(ValueError, match="Unknown sheet"):
        render_cards_pdf(cards_of("a6_folded", 1), sheet="a3")
    with pytest.raises(ValueError, match="Unknown labels"):
        render_labels_pdf(cards_of("a6_folded", 1), labels="l7163")
    with pytest.raises(ValueError, match="Accent colour"):
        design(accent_color="red; background: url(http://x)")
    with pytest.raises(ValueError, match="Unknown artwork"):
        design(artwork="birthday")
    with pytest.raises(ValueError, match="Unknown typeface"):
        design(typeface="comic")


def test_design_spec_from_a_card_design():
    row = CardDesign(
        name="Thanks",
        slug="thanks-5x7",
        format="5x7_folded",
        artwork="uploaded",
        front_image="designs/thanks.png",
        headline="",
        accent_color="#123456",
        typeface="sans",
    )
    assert row.spec() == DesignSpec(
        slug="thanks-5x7",
        format="5x7_folded",
        artwork="uploaded",
        front_image="designs/thanks.png",
        headline="",
        accent_color="#123456",
        typeface="sans",
    )
    assert CardDesign(slug="x").spec().front_image == ""


def test_default_headlines():
    assert design(artwork="thank_you").display_headline == "Thank You"
    assert design(artwork="congratulations", headline="  ").display_headline == "Congratulations"
    assert design(headline="Five years!").display_headline == "Five years!"


@pytest.mark.parametrize(
    ("recipient", "lines"),
    [
        (
            Recipient("Ann Lee", "Acme", "1 Main St", "Apt 2", "Springfield", "IL", "62701", "US"),
            ["Ann Lee", "Acme", "1 Main St", "Apt 2", "Springfield, IL 62701", "UNITED STATES"],
        ),
        (
            Recipient("Jan Meier", "", "Hauptstr. 5", "", "Berlin", "BE", "10115", "DE"),
            ["Jan Meier", "Hauptstr. 5", "10115 Berlin", "GERMANY"],
        ),
        (
            Recipient("Ann Lee", "", "12 Harbour St", "", "Bristol", "", "BS1 4RN", "GB"),
            ["Ann Lee", "12 Harbour St", "BRISTOL", "BS1 4RN", "UNITED KINGDOM"],
        ),
        (
            Recipient("Ann", "", "1 Rue", "", "Quebec", "QC", "G1A 0A1", "CA"),
            ["Ann", "1 Rue", "Quebec, QC G1A 0A1", "CANADA"],
        ),
        (Recipient("Ann", city="Somewhere"), ["Ann", "Somewhere"]),
    ],
)
def test_address_lines_follow_the_destination(recipient, lines):
    assert address_lines(recipient) == lines


def test_the_home_country_can_be_left_off(settings):
    settings.CARDS_HOME_COUNTRY = "GB"
    assert address_lines(Recipient("Ann", "", "1 St", "", "Leeds", "", "LS1 1AA", "GB"))[-1] == "LS1 1AA"
    assert address_lines(Recipient("Jan", "", "1 St", "", "Berlin", "", "10115", "DE"))[-1] == "GERMANY"
