"""CSV safety: the export's prefix against formula injection, and its exact inverse on import."""

import io

from hypothesis import given
from hypothesis import strategies as st

from nurture.lib.csvsafe import FORMULA_PREFIXES, neutralise, restore, write_csv

# Text rich in what matters here: apostrophes and formula characters, at the start above all.
cells = st.text(alphabet=st.sampled_from(["'", "a", " ", "1", *FORMULA_PREFIXES]), max_size=8) | st.text(max_size=20)


@given(cells)
def test_it_restores_exactly_what_it_neutralised(cell):
    assert restore(neutralise(cell)) == cell


@given(cells)
def test_it_never_writes_a_cell_that_starts_with_a_formula_character(cell):
    assert not neutralise(cell).startswith(FORMULA_PREFIXES)


def test_it_prefixes_and_restores_exactly_one_apostrophe():
    assert (neutralise("+44 20 7946 0000"), restore("'+44 20 7946 0000")) == ("'+44 20 7946 0000", "+44 20 7946 0000")
    assert (neutralise("=Acme"), restore("'=Acme")) == ("'=Acme", "=Acme")
    assert (neutralise("'=Acme"), restore("''=Acme")) == ("''=Acme", "'=Acme")
    # An apostrophe before anything else is the cell's own: left alone both ways.
    assert (neutralise("'tis"), restore("'tis")) == ("'tis", "'tis")
    # A formula typed in a spreadsheet comes in as text and is neutralised on the way out again.
    assert restore('=HYPERLINK("http://evil")') == '=HYPERLINK("http://evil")'


def test_it_neutralises_header_cells_too():
    out = io.StringIO()

    write_csv([{"=cmd": "x", "-kind": "=y"}], out, fields=["=cmd", "-kind"])

    assert out.getvalue().splitlines() == ["'=cmd,'-kind", "x,'=y"]
