"""Charts as static SVG, drawn by pygal (pure: plain data in, bytes out, no models).

A report describes its chart as a `Chart` (the same numbers as the table beneath it); this
module draws it. The SVG carries no script: pygal's interactive tooltips are dropped, so the
chart is the same picture in an <img> of the admin (whose Content-Security-Policy allows no
inline script), in the monthly PDF pack and in a browser opening the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import pygal  # type: ignore[import-untyped]  # pygal ships no type information
from pygal.style import Style  # type: ignore[import-untyped]

ChartKind = Literal["bar", "stacked", "line"]

# The admin's colours (Django's --primary, --secondary, ...) then a few that tell apart in print.
_COLOURS = ("#417690", "#e0662b", "#2e7d32", "#ba2121", "#79aec8", "#d89614", "#6a4c93", "#8d99ae")
_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#333333",
    foreground_strong="#333333",
    foreground_subtle="#999999",
    colors=_COLOURS,
    font_family="DejaVu Sans, Helvetica, Arial, sans-serif",
)
_SCRIPT = re.compile(rb"<script\b.*?</script>", re.DOTALL)


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]


@dataclass(frozen=True)
class Chart:
    """What to draw: one value per x label in each series (None: no value there)."""

    kind: ChartKind
    title: str
    x_labels: list[str]
    series: list[Series] = field(default_factory=list)
    y_title: str = ""
    # Values are shares between 0 and 1, drawn as percentages.
    percent: bool = False

    def __post_init__(self) -> None:
        for one in self.series:
            if len(one.values) != len(self.x_labels):
                raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(self.x_labels)} labels")


_CLASSES: dict[ChartKind, type[pygal.graph.graph.Graph]] = {
    "bar": pygal.Bar,
    "stacked": pygal.StackedBar,
    "line": pygal.Line,
}


def render_svg(chart: Chart, *, width: int = 800, height: int = 360) -> bytes:
    """The chart as a standalone SVG document, without script."""
    drawing = _CLASSES[chart.kind](
        style=_STYLE,
        width=width,
        height=height,
        js=[],
        title=chart.title,
        y_title=chart.y_title or None,
        x_label_rotation=30 if len(chart.x_labels) > 8 else 0,
        legend_at_bottom=True,
        legend_at_bottom_columns=min(max(len(chart.series), 1), 4),
        print_values=False,
        show_y_guides=True,
        truncate_legend=40,
        no_data_text="No data for this period",
        range=(0, 1) if chart.percent else None,
        value_formatter=(lambda value: f"{value:.0%}") if chart.percent else (lambda value: f"{value:,.0f}"),
    )
    drawing.x_labels = chart.x_labels
    for one in chart.series:
        drawing.add(one.name, one.values)
    svg: bytes = drawing.render()
    return _SCRIPT.sub(b"", svg)
