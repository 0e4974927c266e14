"""Rendering less: a batch's cards drawn from each design's outside, rendered once and reused,
read back with a PDF reader and compared with the same cards rendered in full."""

import io
import re

import pytest
from PIL import Image, ImageChops

from campaigns.printing import (
    join_fragments,
    outside_pdf,
    pdf_fragment,
    pdfjoin,
    render_cards_fragment,
    render_cards_pdf,
)
from campaigns.printing.formats import FORMATS
from campaigns.printing.render import CardDoesNotFit
from tests.campaigns.printing import card, page_texts, pdf_dict, read, render_page_png

BOXES = ("mediabox", "trimbox", "bleedbox", "cropbox")


def joined(*fragments: bytes) -> bytes:
    out = io.BytesIO()
    join_fragments(fragments, out)
    return out.getvalue()


def mixed_cards(fmt: str, count: int) -> list:
    """Cards of two designs of one format, alternating, each with its own message."""
    return [
        card(
            n,
            format=fmt,
            artwork="anniversary" if n % 2 else "thank_you",
            slug="anniversary" if n % 2 else "thank-you",
            message=f"Dear Person {n},\n\nThank you for {n} good years.\n\nJordan",
        )
        for n in range(1, count + 1)
    ]


def form_xobjects(reader, index: int) -> list:
    resources = pdf_dict(reader.pages[index]["/Resources"])
    xobjects = pdf_dict(resources["/XObject"]) if "/XObject" in resources else {}
    return [ref for name, ref in xobjects.items() if name.startswith("/NurtureShared")]


@pytest.mark.parametrize(("fmt", "sheet"), [("a6_folded", "card"), ("5x7_folded", "letter"), ("4x6_postcard", "a4")])
def test_reused_outsides_read_back_like_cards_rendered_in_full(fmt, sheet):
    cards = mixed_cards(fmt, 5)

    full = render_cards_pdf(cards, sheet=sheet)
    reused = joined(render_cards_fragment(cards, sheet=sheet))

    full_pages, reused_pages = read(full).pages, read(reused).pages
    assert len(reused_pages) == len(full_pages)
    for full_page, page in zip(full_pages, reused_pages, strict=True):
        for box in BOXES:
            assert list(getattr(page, box)) == list(getattr(full_page, box)), box
    # Every card's code and words stand on the same pages (on a sheet of several cards the
    # shared outsides come before the codes, so the words are compared, not their order).
    for expected, text in zip(page_texts(full), page_texts(reused), strict=True):
        assert sorted(text.split()) == sorted(expected.split())


def test_each_card_has_its_code_on_its_outside_and_its_message_inside():
    cards = mixed_cards("a6_folded", 3)

    texts = page_texts(joined(render_cards_fragment(cards, sheet="card")))

    assert len(texts) == 6
    for n, (outside, inside) in enumerate(zip(texts[0::2], texts[1::2], strict=True), start=1):
        assert f"B12-{n:03d}" in outside
        assert ("Happy" in outside) == (n % 2 == 1)  # the anniversary's headline, as text
        assert f"Thank you for {n} good years." in inside
        assert f"B12-{n:03d}" in inside


def test_reused_outsides_print_the_same_pixels():
    cards = mixed_cards("a6_folded", 4)
    full = render_cards_pdf(cards, sheet="a4")
    reused = joined(render_cards_fragment(cards, sheet="a4"))

    for page in (1, 2):
        a = Image.open(io.BytesIO(render_page_png(full, page=page, dpi=40))).convert("RGB")
        b = Image.open(io.BytesIO(render_page_png(reused, page=page, dpi=40))).convert("RGB")
        assert ImageChops.difference(a, b).getbbox() is None


def test_a_design_outside_is_one_object_referenced_by_every_card():
    cards = mixed_cards("a6_folded", 6)
    reader = read(joined(render_cards_fragment(cards, sheet="card")))

    outsides = [form_xobjects(reader, index) for index in range(0, 12, 2)]
    insides = [form_xobjects(reader, index) for index in range(1, 12, 2)]

    assert all(len(refs) == 1 for refs in outsides)
    assert not any(insides)
    numbers = {refs[0].idnum for refs in outsides}
    assert len(numbers) == 2  # one form per design, shared by its three cards
    form = pdf_dict(outsides[0][0])
    assert form["/Subtype"] == "/Form"


def test_reusing_outsides_makes_smaller_files():
    cards = mixed_cards("a6_folded", 10)

    full = pdf_fragment(render_cards_pdf(cards, sheet="card"))
    reused = render_cards_fragment(cards, sheet="card")

    assert len(reused) < 0.75 * len(full)


def test_the_shared_outside_has_no_sequence_code():
    design = card(1).design
    page = read(outside_pdf(design)).pages[0]
    text = page.extract_text()

    assert "B12" not in text
    assert "Happy" in text
    assert list(page.mediabox) == list(read(render_cards_pdf([card(1)], sheet="card")).pages[0].mediabox)


def test_rendering_less_is_deterministic():
    cards = mixed_cards("a6_postcard", 3)
    assert render_cards_fragment(cards, sheet="letter") == render_cards_fragment(cards, sheet="letter")


def test_a_message_that_does_not_fit_is_refused_too():
    long = card(2, message="Far too long. " * 300)
    with pytest.raises(CardDoesNotFit) as caught:
        render_cards_fragment([card(1), long], sheet="card")
    assert caught.value.sequence_code == "B12-002"


def test_every_format_has_a_shared_outside():
    for fmt in FORMATS:
        assert len(read(outside_pdf(card(1, format=fmt).design)).pages) == 1


def test_one_card_sheets_make_each_outside_from_the_shared_page_and_the_insides_code():
    cards = mixed_cards("a6_folded", 4)
    full = render_cards_pdf(cards, sheet="card")
    reused = joined(render_cards_fragment(cards, sheet="card"))
    reader = read(reused)

    for index in range(0, 8, 2):
        outside, inside = reader.pages[index], reader.pages[index + 1]
        outside_x = pdf_dict(pdf_dict(outside["/Resources"])["/XObject"])
        inside_x = pdf_dict(pdf_dict(inside["/Resources"])["/XObject"])
        codes = [ref.idnum for name, ref in outside_x.items() if not name.startswith("/NurtureShared")]
        # The outside draws the very object that prints the code on the inside: referenced, not copied.
        assert len(codes) == 1
        assert codes[0] in {ref.idnum for ref in inside_x.values()}
    for page in (1, 2, 7, 8):
        a = Image.open(io.BytesIO(render_page_png(full, page=page, dpi=60))).convert("RGB")
        b = Image.open(io.BytesIO(render_page_png(reused, page=page, dpi=60))).convert("RGB")
        assert ImageChops.difference(a, b).getbbox() is None


def test_without_codes_to_reuse_the_outsides_are_laid_out(monkeypatch):
    cards = mixed_cards("a6_folded", 2)
    expected = page_texts(joined(render_cards_fragment(cards, sheet="card")))
    monkeypatch.setattr(pdfjoin, "_CODE_DRAWN", re.compile(rb"never drawn"))

    texts = page_texts(joined(render_cards_fragment(cards, sheet="card")))

    assert texts == expected
