import re

import pytest

from campaigns.printing.fit import FitResult, check_fit
from campaigns.printing.formats import FORMATS
from campaigns.printing.render import CardDoesNotFit, render_cards_pdf
from tests.campaigns.printing import MESSAGE, card, design

SENTENCE = "Thank you so much for being with us all these years, it has been a real pleasure."


def words(count: int) -> str:
    vocabulary = SENTENCE.split()
    return " ".join(vocabulary[i % len(vocabulary)] for i in range(count))


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("typeface", ["script", "serif", "sans"])
def test_a_short_message_fits(fmt, typeface):
    assert check_fit(MESSAGE, design(format=fmt, typeface=typeface)) == FitResult(fits=True)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_very_long_message_does_not(fmt):
    result = check_fit(words(400), design(format=fmt))
    assert not result.fits
    match = re.fullmatch(
        r"The message needs (\d+\.\d) cm but the (inside panel|message area) has (\d+\.\d) cm; "
        r"shorten it by about (\d+) words\.",
        result.problem,
    )
    assert match, result.problem
    needed, where, available, cut = float(match[1]), match[2], float(match[3]), int(match[4])
    assert needed > available
    assert where == ("inside panel" if FORMATS[fmt].folded else "message area")
    assert 0 < cut < 400 and cut % 5 == 0


def test_the_estimate_is_close_to_the_real_excess():
    spec = design(format="a6_folded", typeface="serif")
    low, high = 1, 400  # the most words that fit, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if check_fit(words(middle), spec).fits else (low, middle - 1)
    result = check_fit(words(low + 60), spec)
    match = re.search(r"about (\d+) words", result.problem)
    assert match, result.problem
    cut = int(match[1])
    assert 60 <= cut <= 80
    # Taking that many words out makes it fit.
    assert check_fit(words(low + 60 - cut), spec).fits


def test_long_words_and_many_lines_are_measured_too():
    assert not check_fit("x" * 3000, design()).fits
    assert not check_fit("\n".join(["Line"] * 60), design()).fits


def test_fit_agrees_with_the_printed_card():
    spec = design(format="a6_postcard", typeface="script")
    fitting = next(n for n in range(200, 0, -5) if check_fit(words(n), spec).fits)
    render_cards_pdf([card(1, format="a6_postcard", message=words(fitting))], sheet="card")
    with pytest.raises(CardDoesNotFit):
        render_cards_pdf([card(1, format="a6_postcard", message=words(fitting + 10))], sheet="card")
