"""What the renderer takes: a card design, a recipient, a card to print. Frozen plain data, checked
when made, so that a bad design fails here with a clear message rather than inside WeasyPrint."""

from __future__ import annotations

import re
from dataclasses import dataclass

from campaigns.printing.artworks import Artwork, artwork
from campaigns.printing.formats import page_geometry

TYPEFACES = ("script", "serif", "sans")
DEFAULT_ACCENT = "#8c2f39"

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class DesignSpec:
    slug: str
    format: str
    artwork: str
    front_image: str = ""
    headline: str = ""
    accent_color: str = DEFAULT_ACCENT
    typeface: str = "script"

    def __post_init__(self) -> None:
        page_geometry(self.format)  # raises ValueError for an unknown format
        artwork(self.artwork)  # raises ValueError for an unknown artwork
        if self.typeface not in TYPEFACES:
            raise ValueError(f"Unknown typeface {self.typeface!r}; expected one of {', '.join(TYPEFACES)}")
        if not _COLOUR.fullmatch(self.accent_color):
            raise ValueError(f"Accent colour {self.accent_color!r} is not like #8c2f39")

    @property
    def artwork_entry(self) -> Artwork:
        """The design's artwork in the registry (artworks.py)."""
        return artwork(self.artwork)

    @property
    def display_headline(self) -> str:
        return self.headline.strip() or self.artwork_entry.headline


@dataclass(frozen=True)
class Recipient:
    name: str
    company: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class PrintCard:
    sequence_code: str
    design: DesignSpec
    message: str
    recipient: Recipient
