"""Small hand-built SVG charts for the HTML report: no plotting library, no network.

Each function returns one ``<svg>`` element as a string, sized by its viewBox so it
scales with the page. All text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
_FONT = 'font-family="system-ui, sans-serif"'


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``high``; whole numbers, as the charts count."""
    if high <= 0:
        return [0.0, 1.0]
    raw = max(high / count, 1.0)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _open(width: int, height: int, title: str, kind: str) -> list[str]:
    return [
        f'<svg class="chart" data-kind="{kind}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14" '
        f'font-weight="600" {_FONT}>{escape(title)}</text>',
    ]


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for index, name in enumerate(names):
        top = y + index * 16
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{top}" width="10" height="10" fill="{colour}"/>')
        parts.append(
            f'<text x="{x + 14}" y="{top + 9}" font-size="11" {_FONT}>{escape(name)}</text>'
        )
    return parts


def _legend_width(names: Iterable[str]) -> int:
    """Room for a legend: swatch plus about 7 px per character of the longest name."""
    return 24 + 7 * max((len(name) for name in names), default=0)


def _y_axis(ticks: list[float], left: float, right: float, y_of, label: str) -> list[str]:
    parts = []
    for tick in ticks:
        y = y_of(tick)
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
            f"{_FONT}>{_number(tick)}</text>"
        )
    mid = (y_of(ticks[0]) + y_of(ticks[-1])) / 2
    parts.append(
        f'<text x="14" y="{mid:.1f}" transform="rotate(-90 14 {mid:.1f})" text-anchor="middle" '
        f'font-size="11" {_FONT}>{escape(label)}</text>'
    )
    return parts


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    x_label: str = "",
    y_label: str = "count",
    width: int = 360,
    height: int = 260,
) -> str:
    """Grouped vertical bars: one group per category, one bar per series."""
    width += _legend_width(series)
    left, right, top, bottom = 48, width - _legend_width(series) - 10, 30, height - 40
    high = max((value for values in series.values() for value in values), default=0)
    ticks = nice_ticks(high)

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / ticks[-1]

    parts = _open(width, height, title, "bar")
    parts += _y_axis(ticks, left, right, y_of, y_label)
    slot = (right - left) / max(len(categories), 1)
    bar = slot * 0.8 / max(len(series), 1)
    for c_index, category in enumerate(categories):
        x0 = left + c_index * slot + slot * 0.1
        for s_index, (name, values) in enumerate(series.items()):
            value = values[c_index]
            x, y = x0 + s_index * bar, y_of(value)
            colour = PALETTE[s_index % len(PALETTE)]
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" '
                f'height="{bottom - y:.1f}" fill="{colour}">'
                f"<title>{escape(name)} {escape(category)}: {_number(value)}</title></rect>"
            )
        parts.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{bottom + 14}" text-anchor="middle" '
            f'font-size="11" {_FONT}>{escape(category)}</text>'
        )
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#555"/>')
    parts.append(
        f'<text x="{(left + right) / 2}" y="{height - 6}" text-anchor="middle" font-size="11" '
        f"{_FONT}>{escape(x_label)}</text>"
    )
    parts += _legend(list(series), right + 12, top)
    parts.append("</svg>")
    return "\n".join(parts)


def scatter(
    title: str,
    points: Sequence[tuple[float, float]],
    low: float,
    high: float,
    x_label: str,
    y_label: str,
    size: int = 240,
) -> str:
    """Points on a square plot from ``low`` to ``high`` on both axes, with the diagonal."""
    left, top = 44, 28
    right, bottom = size - 12, size - 36
    span = high - low

    def x_of(value: float) -> float:
        return left + (right - left) * (value - low) / span

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / span

    parts = _open(size, size, title, "scatter")
    for tick in range(math.ceil(low), math.floor(high) + 1):
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y_of(tick):.1f}" y2="{y_of(tick):.1f}" '
            f'stroke="#e3e3e3"/><line x1="{x_of(tick):.1f}" x2="{x_of(tick):.1f}" y1="{top}" '
            f'y2="{bottom}" stroke="#e3e3e3"/>'
            f'<text x="{left - 6}" y="{y_of(tick) + 4:.1f}" text-anchor="end" font-size="10" '
            f'{_FONT}>{tick}</text><text x="{x_of(tick):.1f}" y="{bottom + 13}" '
            f'text-anchor="middle" font-size="10" {_FONT}>{tick}</text>'
        )
    parts.append(
        f'<line x1="{x_of(low):.1f}" y1="{y_of(low):.1f}" x2="{x_of(high):.1f}" '
        f'y2="{y_of(high):.1f}" stroke="#999" stroke-dasharray="4 3"/>'
    )
    for x, y in points:
        parts.append(
            f'<circle class="point" cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="4" '
            f'fill="{PALETTE[0]}" fill-opacity="0.6" stroke="{PALETTE[0]}">'
            f"<title>{_number(x)}, {_number(y)}</title></circle>"
        )
    parts.append(
        f'<text x="{(left + right) / 2}" y="{size - 6}" text-anchor="middle" font-size="11" '
        f"{_FONT}>{escape(x_label)}</text>"
    )
    mid = (top + bottom) / 2
    parts.append(
        f'<text x="12" y="{mid}" transform="rotate(-90 12 {mid})" text-anchor="middle" '
        f'font-size="11" {_FONT}>{escape(y_label)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def step_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[datetime, float]]],
    y_label: str = "cumulative count",
    width: int = 640,
    height: int = 260,
) -> str:
    """Cumulative counts over time as step lines (one per series); give aware datetimes."""
    left, right, top, bottom = 48, width - _legend_width(series) - 10, 30, height - 40
    times = [t for points in series.values() for t, _ in points]
    high = max((v for points in series.values() for _, v in points), default=0)
    ticks = nice_ticks(high)
    start = min(times).timestamp() if times else 0.0
    end = max(times).timestamp() if times else 1.0
    if end - start < 60:  # one moment (e.g. a single import): widen to show it
        start, end = start - 3600, end + 3600

    def x_of(moment: datetime) -> float:
        return left + (right - left) * (moment.timestamp() - start) / (end - start)

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / ticks[-1]

    parts = _open(width, height, title, "steps")
    parts += _y_axis(ticks, left, right, y_of, y_label)
    for index, (name, points) in enumerate(series.items()):
        if not points:
            continue
        colour = PALETTE[index % len(PALETTE)]
        path = [f"M{left:.1f},{bottom:.1f}", f"H{x_of(points[0][0]):.1f}"]
        for moment, value in points:
            path.append(f"H{x_of(moment):.1f}V{y_of(value):.1f}")
        path.append(f"H{right:.1f}")
        parts.append(
            f'<path class="line" d="{"".join(path)}" fill="none" stroke="{colour}" '
            f'stroke-width="2"><title>{escape(name)}: {_number(points[-1][1])}</title></path>'
        )
    for moment in (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)):
        anchor = "start" if moment.timestamp() == start else "end"
        x = left if anchor == "start" else right
        parts.append(
            f'<text x="{x}" y="{bottom + 14}" text-anchor="{anchor}" font-size="10" '
            f"{_FONT}>{moment:%Y-%m-%d %H:%M} UTC</text>"
        )
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#555"/>')
    parts += _legend(list(series), right + 12, top)
    parts.append("</svg>")
    return "\n".join(parts)


def value_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``low`` to ``high`` (any sign, fractions allowed)."""
    if high <= low:
        low, high = low - 1, high + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    tick = math.floor(low / step) * step
    ticks = [round(tick, 10)]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


Estimate = tuple[float, float | None, float | None]  # value, 95% interval low and high


def interval_chart(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[Estimate | None]],
    x_label: str = "",
    y_label: str = "",
    connect: bool = False,
    height: int = 280,
) -> str:
    """Point estimates with 95% interval bars: one slot per category, one point per series
    (side by side), a dashed line at 0; ``connect`` joins each series' points (a trajectory).
    A missing estimate (None) leaves its place empty."""
    slot = max(70, 7 * max((len(c) for c in categories), default=0) + 12)
    legend = _legend_width(series)
    width = 56 + max(300, slot * len(categories)) + legend + 10
    left, right, top, bottom = 56, width - legend - 10, 30, height - 40
    numbers = [v for values in series.values() for e in values if e for v in e if v is not None]
    ticks = value_ticks(min([0.0, *numbers]), max([0.0, *numbers]))

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * (value - ticks[0]) / (ticks[-1] - ticks[0])

    parts = _open(width, height, title, "interval")
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y_of(tick):.1f}" y2="{y_of(tick):.1f}" '
            f'stroke="#e3e3e3"/><text x="{left - 6}" y="{y_of(tick) + 4:.1f}" '
            f'text-anchor="end" font-size="10" {_FONT}>{_number(tick)}</text>'
        )
    parts.append(
        f'<line class="zero" x1="{left}" x2="{right}" y1="{y_of(0):.1f}" y2="{y_of(0):.1f}" '
        f'stroke="#555" stroke-dasharray="4 3"/>'
    )
    step = (right - left) / max(len(categories), 1)
    dodge = step * 0.6 / max(len(series), 1)
    for c_index, category in enumerate(categories):
        parts.append(
            f'<text x="{left + step * (c_index + 0.5):.1f}" y="{bottom + 14}" '
            f'text-anchor="middle" font-size="11" {_FONT}>{escape(category)}</text>'
        )
    for s_index, (name, estimates) in enumerate(series.items()):
        colour = PALETTE[s_index % len(PALETTE)]
        offset = step * 0.2 + dodge * (s_index + 0.5)
        path: list[str] = []
        for c_index, estimate in enumerate(estimates):
            if estimate is None:
                continue
            value, low, high = estimate
            x = left + step * c_index + offset
            path.append(f"{'M' if not path else 'L'}{x:.1f},{y_of(value):.1f}")
            shown = f"{value:.2f}"
            if low is not None and high is not None:
                shown += f" [{low:.2f}, {high:.2f}]"
                parts.append(
                    f'<path class="ci" d="M{x - 3:.1f},{y_of(low):.1f}H{x + 3:.1f}'
                    f"M{x:.1f},{y_of(low):.1f}V{y_of(high):.1f}M{x - 3:.1f},{y_of(high):.1f}"
                    f'H{x + 3:.1f}" stroke="{colour}" stroke-width="1.5" fill="none"/>'
                )
            parts.append(
                f'<circle class="estimate" cx="{x:.1f}" cy="{y_of(value):.1f}" r="3.5" '
                f'fill="{colour}"><title>{escape(name)}, {escape(categories[c_index])}: '
                f"{shown}</title></circle>"
            )
        if connect and len(path) > 1:
            parts.append(
                f'<path class="line" d="{"".join(path)}" fill="none" stroke="{colour}" '
                f'stroke-width="1.5" stroke-opacity="0.6"/>'
            )
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#555"/>')
    parts.append(
        f'<text x="{(left + right) / 2}" y="{height - 6}" text-anchor="middle" font-size="11" '
        f"{_FONT}>{escape(x_label)}</text>"
    )
    mid = (top + bottom) / 2
    parts.append(
        f'<text x="14" y="{mid:.1f}" transform="rotate(-90 14 {mid:.1f})" text-anchor="middle" '
        f'font-size="11" {_FONT}>{escape(y_label)}</text>'
    )
    parts += _legend(list(series), right + 12, top)
    parts.append("</svg>")
    return "\n".join(parts)
