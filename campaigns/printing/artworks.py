"""The front artworks of greeting cards, in one registry.

Every artwork is one ``Artwork`` entry in ``ARTWORKS``; everything else follows from it:

- CardDesign.Artwork (the model's choices): slug and label, in this order;
- the renderer (render.py): the default headline, the ornaments to recolour for a design, the
  sample message of a preview, whether the front is the design's uploaded image;
- the front template (templates/cards/_front_art.html): the boxes of the front, printed
  generically from ``front``;
- the stylesheet: the artwork's own rules (``css``), added after campaigns/static/cards/cards.css,
  which holds only what every artwork shares.

A new design is therefore one entry here plus its SVG files under campaigns/static/cards/art/
(ornaments are drawn in the default palette, see render.palette; the renderer recolours them for
each design's accent colour). Plain data: no Django, no WeasyPrint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The ornaments every card has whatever its artwork: the flourish above the message and the
#: sprig on the back of a folded card.
COMMON_ORNAMENTS = ("flourish", "sprig")

# A slug is an enum member name in upper case (CardDesign.Artwork.THANK_YOU), a CSS class
# (art-thank_you) and a value of CardDesign.artwork (20 characters at most).
_SLUG = re.compile(r"[a-z][a-z0-9_]{0,19}")
_NAME = re.compile(r"[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class Layer:
    """A box on the front of a card: a <div> with these classes, holding the ``inside`` boxes.

    ``ornament``: the SVG (campaigns/static/cards/art/<ornament>.svg) drawn as the box's
    background, recoloured for the design. ``headline``: the box holds the headline's text.
    """

    classes: str
    inside: tuple[Layer, ...] = ()
    ornament: str = ""
    headline: bool = False

    def __post_init__(self) -> None:
        if self.ornament and not _NAME.fullmatch(self.ornament):
            raise ValueError(f"Ornament {self.ornament!r} is not a file name like sprig-corner")

    @property
    def css_classes(self) -> str:
        """The box's class attribute (an ornament is styled by ``orn`` and ``orn-<ornament>``)."""
        return f"{self.classes} orn orn-{self.ornament}" if self.ornament else self.classes

    def walk(self) -> tuple[Layer, ...]:
        """This box and every box inside it, in document order."""
        return (self, *(layer for child in self.inside for layer in child.walk()))


def box(classes: str, *inside: Layer, ornament: str = "") -> Layer:
    """A box with these classes holding ``inside``, for writing the registry below."""
    return Layer(classes, inside, ornament=ornament)


#: The headline, in its own box (styled by ``.headline`` in cards.css and the artwork's rules).
HEADLINE = Layer("headline", headline=True)


@dataclass(frozen=True)
class Artwork:
    """One front artwork.

    ``slug`` and ``label``: its value and label in CardDesign.artwork. ``headline``: the text on
    the front when the design sets none. ``front``: the boxes of the front panel, inside its
    clipping box (``.art-clip``, the panel plus its bleed) and finished panel (``.art-inner``).
    ``css``: the rules that place and style them; every ``&`` stands for the front panel of this
    artwork (``.art-<slug>``, which also has the class ``portrait`` or ``landscape``), and the
    design's colours are custom properties (--accent, --soft, --tint, --paper, --shade).
    ``uploaded_image``: the front is the design's uploaded image (CardDesign.front_image), bleed
    included. ``sample_message``: the message of a design preview (the thank-you card's if empty).
    """

    slug: str
    label: str
    headline: str = ""
    front: tuple[Layer, ...] = ()
    css: str = ""
    uploaded_image: bool = False
    sample_message: str = ""

    def __post_init__(self) -> None:
        if not _SLUG.fullmatch(self.slug):
            raise ValueError(f"Artwork slug {self.slug!r} is not like thank_you (20 characters at most)")

    @property
    def css_class(self) -> str:
        return f"art-{self.slug}"

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Every box of the front, in document order."""
        return tuple(layer for top in self.front for layer in top.walk())

    @property
    def ornaments(self) -> tuple[str, ...]:
        """The ornaments of the front, besides those every card has (COMMON_ORNAMENTS)."""
        names = (layer.ornament for layer in self.layers if layer.ornament)
        return tuple(dict.fromkeys(name for name in names if name not in COMMON_ORNAMENTS))

    @property
    def stylesheet(self) -> str:
        """The artwork's rules, with ``&`` replaced by its front panel's selector."""
        return self.css.replace("&", f".{self.css_class}")


ARTWORKS: tuple[Artwork, ...] = (
    Artwork(
        slug="anniversary",
        label="Anniversary (built in)",
        headline="Happy Anniversary",
        # A tinted page, a double frame, a laurel wreath around the headline.
        front=(
            box("frame"),
            box("frame-inner"),
            box("wreath", box("headline-wrap", HEADLINE), ornament="wreath"),
            box("flourish", ornament="flourish"),
        ),
        css="""
& .art-clip { background: var(--paper); }
& .frame { position: absolute; top: 7mm; right: 7mm; bottom: 7mm; left: 7mm; border: 0.35mm solid var(--accent); }
& .frame-inner {
  position: absolute; top: 8.4mm; right: 8.4mm; bottom: 8.4mm; left: 8.4mm; border: 0.15mm solid var(--soft);
}
/* A square: the padding is a share of the panel's width, like the width. */
& .wreath { position: absolute; left: 12%; right: 12%; top: 17%; height: 0; padding-bottom: 76%; }
&.landscape .wreath { left: 25%; right: 25%; top: 13%; padding-bottom: 50%; }
& .wreath .headline-wrap { left: 21%; right: 21%; bottom: 8%; }
& .headline { font-size: 2.7em; }
&.landscape .headline { font-size: 2.3em; }
& .flourish { position: absolute; left: 30%; right: 30%; bottom: 16mm; height: 4mm; }
&.landscape .flourish { display: none; }
""",
        sample_message=(
            "Dear Alex,\n\nFive years ago today you placed your trust in us, and it has been a pleasure "
            "to work with you ever since.\n\nThank you for being such a wonderful customer. Here's to many "
            "more years together!\n\nWarm regards,\nJordan"
        ),
    ),
    Artwork(
        slug="thank_you",
        label="Thank you (built in)",
        headline="Thank You",
        # White, botanical sprigs from two corners into the bleed, a large headline.
        front=(
            box("corner tl", ornament="sprig-corner"),
            box("corner br", ornament="sprig-corner-flipped"),
            box("headline-wrap", HEADLINE, box("rule", ornament="flourish")),
        ),
        css="""
& .art-clip { background: #fff; }
& .corner { position: absolute; width: 62%; height: 0; padding-bottom: 62%; }
& .corner.tl { left: -2mm; top: -2mm; }
& .corner.br { right: -2mm; bottom: -2mm; }
&.landscape .corner { width: 40%; padding-bottom: 40%; }
& .headline { font-size: 4.2em; }
""",
        sample_message=(
            "Dear Alex,\n\nA short note to say thank you for choosing us. It means a great deal to our whole "
            "team, and we are always here if you need anything.\n\nWith best wishes,\nJordan"
        ),
    ),
    Artwork(
        slug="congratulations",
        label="Congratulations (built in)",
        headline="Congratulations",
        # Confetti to the edges (and into the bleed), the headline on a plate.
        front=(
            box("confetti", ornament="confetti"),
            box("headline-wrap", box("plate", box("plate-inner", HEADLINE, box("rule", ornament="flourish")))),
        ),
        css="""
& .art-clip { background: var(--paper); }
& .confetti {
  position: absolute; top: -4mm; right: -4mm; bottom: -4mm; left: -4mm; background-size: cover;
}
& .headline-wrap { left: 12mm; right: 12mm; }
&.landscape .headline-wrap { left: 25%; right: 25%; }
& .plate { background: #fff; border: 0.3mm solid var(--accent); padding: 1mm; }
& .plate-inner { border: 0.15mm solid var(--soft); padding: 6mm 2mm 5mm; }
& .headline { font-size: 2.7em; }
& .rule { margin-top: 2.5mm; width: 22mm; height: 2.8mm; }
""",
        sample_message=(
            "Dear Alex,\n\nCongratulations on your new role! Everyone here is delighted for you, and we "
            "wish you every success in the months ahead.\n\nAll the best,\nJordan"
        ),
    ),
    Artwork(
        slug="uploaded",
        label="Uploaded image",
        # The image is the whole front, bleed included.
        uploaded_image=True,
        css="""
& .art-clip {
  background-color: var(--paper); background-size: cover; background-position: center; background-repeat: no-repeat;
}
""",
    ),
)

_BY_SLUG = {artwork.slug: artwork for artwork in ARTWORKS}
if len(_BY_SLUG) != len(ARTWORKS):
    raise ValueError("Two artworks have the same slug")

#: The slugs of the artworks, in the order of the registry.
SLUGS: tuple[str, ...] = tuple(_BY_SLUG)


def artwork(slug: str) -> Artwork:
    """The artwork with this slug; ValueError for an unknown one."""
    try:
        return _BY_SLUG[slug]
    except KeyError:
        raise ValueError(f"Unknown artwork {slug!r}; expected one of {', '.join(SLUGS)}") from None


def artworks_css() -> str:
    """The rules of every artwork, one stylesheet (added after cards.css)."""
    return "".join(entry.stylesheet for entry in ARTWORKS)
