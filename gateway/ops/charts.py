"""Server-rendered SVG line charts for the console (the CSP allows no scripts).

Numbers and labels only come from the server's own series; every text is escaped anyway.
Colours come from ``console.css`` (classes ``series-<name>``), with presentation attributes
as the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from gateway.namespaces import SVG

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 10, 40, 22
COLOURS = {
    "received": "#3b6ea8",
    "processed": "#2f8a4c",
    "failed": "#a11d1d",
    "refused": "#c27c0e",
    "item-errors": "#7a3fa0",
    "depth": "#3b6ea8",
    "oldest-age": "#c27c0e",
}


@dataclass(frozen=True)
class Series:
    name: str  # css class suffix and data-series
    label: str
    values: Sequence[float]


def _nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _format(value: float, unit: str) -> str:
    if unit == "s":
        if value >= 3600:
            return f"{value / 3600:.1f} h"
        if value >= 60:
            return f"{value / 60:.0f} min"
        return f"{value:.0f} s" if value >= 10 or value == int(value) else f"{value:.1f} s"
    return f"{value:g}"


def line_chart(
    chart_id: str,
    title: str,
    start: datetime,
    series: Sequence[Series],
    *,
    unit: str = "",
    step: timedelta = timedelta(minutes=1),
) -> Markup:
    """One SVG chart of ``series`` (equal length, value i at ``start + i*step``), UTC hours
    marked on the x axis, a legend with each series' total (or peak, for ``unit="s"``)."""
    count = max((len(s.values) for s in series), default=0)
    top = _nice_max(max((max(s.values, default=0) for s in series), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: float) -> float:
        return LEFT + (plot_w * i / max(count - 1, 1))

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * (v / top)

    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="{SVG}">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{LEFT}" y="14" font-size="12">{escape(title)}</text>',
    ]
    for fraction in (0, 0.5, 1):
        gy = y(top * fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" '
            'stroke="#e3e7eb"/>'
            f'<text class="axis" x="{LEFT - 4}" y="{gy + 4:.1f}" text-anchor="end" '
            f'font-size="10">{escape(_format(top * fraction, unit))}</text>'
        )
    for i in range(count):
        at = start + i * step
        if at.minute == 0 and at.second == 0:
            parts.append(
                f'<line class="tick" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{TOP}" '
                f'y2="{TOP + plot_h}" stroke="#eef1f4"/>'
                f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
                f'font-size="10">{at:%H:%M}</text>'
            )
    legend_x = float(LEFT)
    for s in series:
        colour = COLOURS.get(s.name, "#1d232a")
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        summary = _format(max(s.values, default=0), unit) if unit else f"{sum(s.values):g}"
        parts.append(
            f'<polyline class="series series-{escape(s.name)}" data-series="{escape(s.name)}" '
            f'data-total="{sum(s.values):g}" data-peak="{max(s.values, default=0):g}" '
            f'fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'
        )
        label = f"{s.label} ({'peak ' if unit else ''}{summary})"
        parts.append(
            f'<text class="legend series-{escape(s.name)}" x="{legend_x:.0f}" y="30" '
            f'font-size="11" fill="{colour}">{escape(label)}</text>'
        )
        legend_x += 14 + 6.2 * len(label)
    parts.append("</svg>")
    return Markup("".join(parts))
