"""A small server-side line chart (inline SVG, no JavaScript) for scores over time on the patient page."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 12, 28
# Series colours work on the light and the dark admin theme.
COLOURS = ("#2f6fb0", "#c0392b", "#1e8449", "#8e44ad")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[datetime.datetime, float]]


@dataclass(frozen=True)
class Threshold:
    label: str
    value: float


def line_chart(
    *, series: Sequence[Series], y_max: float, thresholds: Sequence[Threshold] = (), title: str = ""
) -> SafeString:
    """An SVG chart of `series` over time on a 0..`y_max` axis, with dashed lines at `thresholds`."""
    times = [moment for line in series for moment, _ in line.points]
    if not times or y_max <= 0:
        return SafeString("")
    start, end = min(times), max(times)
    span = (end - start).total_seconds() or 1.0
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime.datetime) -> float:
        offset = (moment - start).total_seconds() / span if end > start else 0.5
        return round(LEFT + offset * plot_width, 1)

    def y(value: float) -> float:
        return round(TOP + plot_height * (1 - min(value, y_max) / y_max), 1)

    lines = []
    for index, line in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        points = sorted(line.points)
        coordinates = " ".join(f"{x(moment)},{y(value)}" for moment, value in points)
        dots = format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} {} at {}</title></circle>',
            (
                (x(moment), y(value), colour, line.label, value, moment.strftime("%Y-%m-%d %H:%M UTC"))
                for moment, value in points
            ),
        )
        lines.append(
            format_html('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>{}', coordinates, colour, dots)
        )
    guides = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="threshold"/><text x="{}" y="{}" text-anchor="end">{}</text>',
        ((LEFT, WIDTH - RIGHT, y(t.value), y(t.value), WIDTH - RIGHT - 4, y(t.value) - 3, t.label) for t in thresholds),
    )
    legend = format_html_join(
        "",
        '<tspan fill="{}">&#9632; {}</tspan> ',
        ((COLOURS[index % len(COLOURS)], line.label) for index, line in enumerate(series)),
    )
    return format_html(
        '<svg class="staffadmin-chart" viewBox="0 0 {w} {h}" role="img" aria-label="{title}">'
        '<line x1="{l}" x2="{l}" y1="{t}" y2="{b}" class="axis"/>'
        '<line x1="{l}" x2="{r}" y1="{b}" y2="{b}" class="axis"/>'
        '<text x="{lx}" y="{ty}" class="tick">{ymax}</text><text x="{lx}" y="{b}" class="tick">0</text>'
        '<text x="{l}" y="{by}" class="tick">{first}</text>'
        '<text x="{r}" y="{by}" class="tick" text-anchor="end">{last}</text>'
        "{guides}{lines}"
        '<text x="{r}" y="{ty}" class="legend" text-anchor="end">{legend}</text></svg>',
        w=WIDTH,
        h=HEIGHT,
        title=title,
        l=LEFT,
        r=WIDTH - RIGHT,
        t=TOP,
        b=HEIGHT - BOTTOM,
        lx=4,
        ty=TOP + 8,
        ymax=f"{y_max:g}",
        by=HEIGHT - 8,
        first=start.strftime("%b %d %H:%M"),
        last=end.strftime("%b %d %H:%M"),
        guides=guides,
        lines=format_html_join("", "{}", ((line,) for line in lines)),
        legend=legend,
    )
