"""Does a message fit its card? Measured by laying it out, never guessed from its length."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.printing.formats import page_geometry
from campaigns.printing.render import describe_overflow, measure_message
from campaigns.printing.specs import DesignSpec


@dataclass(frozen=True)
class FitResult:
    fits: bool
    problem: str = ""


def check_fit(message: str, design: DesignSpec) -> FitResult:
    """Lay the message out in the design's real message frame (same templates and stylesheet
    as the printed card) and compare the height it needs with the height the frame has."""
    overflow = measure_message(message, design)
    if overflow.fits:
        return FitResult(fits=True)
    postcard = page_geometry(design.format).is_postcard
    return FitResult(fits=False, problem=describe_overflow(overflow, message, postcard=postcard))
