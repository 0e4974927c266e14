import pytest

from campaigns.printing.formats import (
    FORMATS,
    LABEL_STOCKS,
    MM_PER_INCH,
    PAPERS,
    PRINTER_MARGIN_MM,
    SAFE_MM,
    imposition,
    label_stock,
    page_geometry,
)


@pytest.mark.parametrize(
    ("fmt", "panel", "flat", "bleed"),
    [
        ("a6_folded", (105, 148), (210, 148), 3.0),
        ("5x7_folded", (127, 177.8), (254, 177.8), 3.175),
        ("a6_postcard", (148, 105), (148, 105), 3.0),
        ("4x6_postcard", (152.4, 101.6), (152.4, 101.6), 3.175),
    ],
)
def test_formats_match_the_reference_figures(fmt, panel, flat, bleed):
    geometry = page_geometry(fmt)
    assert (geometry.panel_width, geometry.panel_height) == pytest.approx(panel)
    assert (geometry.flat_width, geometry.flat_height) == pytest.approx(flat)
    assert geometry.bleed == pytest.approx(bleed)
    assert (geometry.media_width, geometry.media_height) == pytest.approx((flat[0] + 2 * bleed, flat[1] + 2 * bleed))


def test_folded_cards_fit_their_envelopes():
    # C6 is 162 x 114 mm, A7 is 5 1/4 x 7 1/4 in: a few millimetres to spare around the card.
    a6, five_by_seven = page_geometry("a6_folded"), page_geometry("5x7_folded")
    assert a6.envelope == "c6" and a6.panel_height < 162 and a6.panel_width < 114
    assert five_by_seven.envelope == "a7"
    assert five_by_seven.panel_height < 7.25 * MM_PER_INCH and five_by_seven.panel_width < 5.25 * MM_PER_INCH


def test_the_safe_zone_is_at_least_3_mm():
    assert SAFE_MM >= 3


def test_unknown_format_and_sheet_are_refused():
    with pytest.raises(ValueError, match="Unknown card format"):
        page_geometry("a5_folded")
    with pytest.raises(ValueError, match="Unknown sheet"):
        imposition("a6_folded", "a3")
    with pytest.raises(ValueError, match="Unknown labels"):
        label_stock("l7163")


@pytest.mark.parametrize(
    ("fmt", "sheet", "per_sheet", "orientation"),
    [
        ("a6_folded", "a4", 1, "landscape"),
        ("a6_folded", "letter", 1, "landscape"),
        ("5x7_folded", "a4", 1, "landscape"),
        ("5x7_folded", "letter", 1, "landscape"),
        ("a6_postcard", "a4", 2, "portrait"),
        ("a6_postcard", "letter", 2, "portrait"),
        ("4x6_postcard", "a4", 2, "portrait"),
        ("4x6_postcard", "letter", 2, "portrait"),
    ],
)
def test_as_many_cards_as_fit_with_bleed_and_crop_marks(fmt, sheet, per_sheet, orientation):
    layout = imposition(fmt, sheet)
    assert layout.per_sheet == per_sheet
    assert layout.page_name == f"{sheet}-{orientation}"
    assert layout.duplex == ("long-edge" if orientation == "portrait" else "short-edge")


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("sheet", list(PAPERS))
def test_cards_bleed_and_marks_stay_on_the_printable_part_of_the_sheet(fmt, sheet):
    layout = imposition(fmt, sheet)
    geometry = layout.format
    for slot in layout.slots:
        assert slot.x - geometry.bleed >= PRINTER_MARGIN_MM
        assert slot.y - geometry.bleed >= PRINTER_MARGIN_MM
        assert slot.x + geometry.flat_width + geometry.bleed <= layout.page_width - PRINTER_MARGIN_MM
        assert slot.y + geometry.flat_height + geometry.bleed <= layout.page_height - PRINTER_MARGIN_MM
    for mark in layout.marks:
        for x, y in ((mark.x1, mark.y1), (mark.x2, mark.y2)):
            assert PRINTER_MARGIN_MM - 1e-6 <= x <= layout.page_width - PRINTER_MARGIN_MM + 1e-6
            assert PRINTER_MARGIN_MM - 1e-6 <= y <= layout.page_height - PRINTER_MARGIN_MM + 1e-6


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("sheet", list(PAPERS))
def test_no_crop_mark_touches_a_card_or_its_bleed(fmt, sheet):
    layout = imposition(fmt, sheet)
    b = layout.format.bleed
    for slot in layout.slots:
        left, top = slot.x - b, slot.y - b
        right, bottom = slot.x + layout.format.flat_width + b, slot.y + layout.format.flat_height + b
        for mark in layout.marks:
            inside_x = left < max(mark.x1, mark.x2) and min(mark.x1, mark.x2) < right
            inside_y = top < max(mark.y1, mark.y2) and min(mark.y1, mark.y2) < bottom
            assert not (inside_x and inside_y), (mark, slot)


def test_crop_marks_line_up_with_every_cut_and_fold():
    layout = imposition("a6_folded", "a4")
    slot = layout.slots[0]
    vertical = {round(m.x1, 3) for m in layout.marks if m.vertical and m.kind == "crop"}
    horizontal = {round(m.y1, 3) for m in layout.marks if not m.vertical}
    folds = {round(m.x1, 3) for m in layout.marks if m.kind == "fold"}
    assert vertical == {round(slot.x, 3), round(slot.x + 210, 3)}
    assert horizontal == {round(slot.y, 3), round(slot.y + 148, 3)}
    assert folds == {round(slot.x + 105, 3)}


def test_backs_are_mirrored_left_to_right():
    layout = imposition("a6_postcard", "a4")
    for slot in layout.slots:
        back = layout.back_slot(slot)
        assert back.y == slot.y
        assert back.x == pytest.approx(layout.page_width - slot.x - 148)


def test_one_card_sheets_are_the_flat_card_plus_bleed():
    layout = imposition("a6_folded", "card")
    assert (layout.page_width, layout.page_height, layout.page_bleed) == (210, 148, 3)
    assert (layout.media_width, layout.media_height) == (216, 154)
    assert layout.per_sheet == 1 and not layout.marks


def test_avery_l7160_geometry():
    stock = LABEL_STOCKS["l7160"]
    positions = stock.positions()
    assert len(positions) == 21
    assert (stock.label_width, stock.label_height) == (63.5, 38.1)
    assert (positions[0].x, positions[0].y) == (7.25, 15.15)
    # Margins are symmetrical on the real sheet.
    assert positions[-1].x + stock.label_width == pytest.approx(210 - 7.17, abs=0.01)
    assert positions[-1].y + stock.label_height == pytest.approx(297 - 15.15, abs=0.01)


def test_avery_5160_geometry():
    stock = LABEL_STOCKS["5160"]
    positions = stock.positions()
    inch = MM_PER_INCH
    assert len(positions) == 30
    assert (stock.label_width, stock.label_height) == pytest.approx((2.625 * inch, 1 * inch))
    assert (positions[0].x, positions[0].y) == pytest.approx((0.1875 * inch, 0.5 * inch), abs=0.001)
    assert positions[-1].x + stock.label_width == pytest.approx(8.5 * inch - 0.1875 * inch, abs=0.01)
    assert positions[-1].y + stock.label_height == pytest.approx(11 * inch - 0.5 * inch, abs=0.01)


def test_address_is_centred_on_a_label():
    stock = LABEL_STOCKS["l7160"]
    top = stock.address_top(5)
    assert top + 5 * stock.line_mm + top == pytest.approx(stock.label_height)
    assert stock.address_top(40) == 1.5
