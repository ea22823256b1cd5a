"""Latency charts of load runs as inline SVG: a histogram and a time series.

Both take ``(time, latency)`` samples in seconds (time is wall-clock; only differences matter)
and draw latencies in milliseconds with the 50th, 95th and 99th percentiles marked, so a reader
sees the spread and whether latency grew during the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from xml.sax.saxutils import escape

Sample = tuple[float, float]

WIDTH = 640
HEIGHT = 240
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 56, 16, 28, 40
_PERCENTILES = ((50, "#11734b"), (95, "#b26a00"), (99, "#b3261e"))


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile of ``values`` (linear interpolation between ranks)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``low``..``high``."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [round(first, 10)]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(round(first + step * len(ticks), 10))
    return ticks


def latency_histogram(
    samples: Iterable[Sample], *, bins: int = 24, title: str = "Latency distribution"
) -> str:
    """A histogram of the latencies, with percentile markers, as an ``<svg>`` element."""
    latencies = [latency * 1000 for _, latency in samples]
    if not latencies:
        return _empty(title)
    top = max(latencies)
    ticks = nice_ticks(0, top)
    high = ticks[-1] if ticks[-1] > 0 else 1.0
    width = high / bins
    counts = [0] * bins
    for value in latencies:
        counts[min(int(value / width), bins - 1)] += 1
    tallest = max(counts)
    count_ticks = [tick for tick in nice_ticks(0, tallest, 4) if tick == int(tick)]
    count_high = count_ticks[-1] or 1
    plot_w = WIDTH - _PAD_LEFT - _PAD_RIGHT
    plot_h = HEIGHT - _PAD_TOP - _PAD_BOTTOM

    def x(value: float) -> float:
        return _PAD_LEFT + plot_w * value / high

    def y(count: float) -> float:
        return _PAD_TOP + plot_h * (1 - count / count_high)

    out = _open(title, f"{len(latencies)} samples")
    out += _x_axis(ticks, x, "latency (ms)")
    out += _y_axis(count_ticks, y, "count")
    bar = plot_w / bins
    for i, count in enumerate(counts):
        if count:
            out.append(
                f'<rect class="bar" x="{_PAD_LEFT + bar * i + 1:.1f}" y="{y(count):.1f}" '
                f'width="{max(bar - 2, 1):.1f}" height="{y(0) - y(count):.1f}" fill="#4a78b5">'
                f"<title>{width * i:.1f}-{width * (i + 1):.1f} ms: {count}</title></rect>"
            )
    for row, (pct, colour) in enumerate(_PERCENTILES):
        value = percentile(latencies, pct)
        out.append(
            f'<line x1="{x(value):.1f}" y1="{_PAD_TOP}" x2="{x(value):.1f}" y2="{y(0):.1f}" '
            f'stroke="{colour}" stroke-dasharray="4 3"/>'
            f'<text x="{x(value) + 3:.1f}" y="{_PAD_TOP + 10 + row * 12}" '
            f'fill="{colour}" font-size="11">p{pct} {value:.1f} ms</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def latency_timeline(samples: Iterable[Sample], *, title: str = "Latency over time") -> str:
    """Each sample as a dot at its time since the first, with the p95 line, as ``<svg>``."""
    points = sorted(samples)
    if not points:
        return _empty(title)
    start = points[0][0]
    times = [t - start for t, _ in points]
    latencies = [latency * 1000 for _, latency in points]
    time_ticks = nice_ticks(0, max(times[-1], 1e-3))
    latency_ticks = nice_ticks(0, max(latencies), 4)
    t_high, l_high = time_ticks[-1] or 1.0, latency_ticks[-1] or 1.0
    plot_w = WIDTH - _PAD_LEFT - _PAD_RIGHT
    plot_h = HEIGHT - _PAD_TOP - _PAD_BOTTOM

    def x(value: float) -> float:
        return _PAD_LEFT + plot_w * value / t_high

    def y(value: float) -> float:
        return _PAD_TOP + plot_h * (1 - value / l_high)

    out = _open(title, f"{len(points)} samples over {times[-1]:.1f} s")
    out += _x_axis(time_ticks, x, "time since start (s)")
    out += _y_axis(latency_ticks, y, "latency (ms)")
    path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, latencies, strict=True))
    out.append(f'<polyline points="{path}" fill="none" stroke="#9fb6d6" stroke-width="1"/>')
    radius = 2.5 if len(points) <= 500 else 1.2
    out.extend(
        f'<circle class="point" cx="{x(t):.1f}" cy="{y(v):.1f}" r="{radius}" fill="#1f4e8c"/>'
        for t, v in zip(times, latencies, strict=True)
    )
    p95 = percentile(latencies, 95)
    out.append(
        f'<line x1="{_PAD_LEFT}" y1="{y(p95):.1f}" x2="{WIDTH - _PAD_RIGHT}" y2="{y(p95):.1f}" '
        'stroke="#b26a00" stroke-dasharray="4 3"/>'
        f'<text x="{WIDTH - _PAD_RIGHT - 4}" y="{y(p95) - 4:.1f}" text-anchor="end" '
        f'fill="#b26a00" font-size="11">p95 {p95:.1f} ms</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _open(title: str, subtitle: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="11">',
        f'<text x="{_PAD_LEFT}" y="16" font-size="13" font-weight="600" fill="#1d2733">'
        f'{escape(title)} <tspan fill="#5b6673" font-weight="400">· {escape(subtitle)}</tspan>'
        "</text>",
    ]


def _x_axis(ticks: list[float], x: Callable[[float], float], label: str) -> list[str]:
    base = HEIGHT - _PAD_BOTTOM
    out = [
        f'<line x1="{_PAD_LEFT}" y1="{base}" x2="{WIDTH - _PAD_RIGHT}" y2="{base}" '
        'stroke="#6b7785"/>'
    ]
    for tick in ticks:
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{base}" x2="{x(tick):.1f}" y2="{base + 4}" '
            'stroke="#6b7785"/>'
            f'<text x="{x(tick):.1f}" y="{base + 16}" text-anchor="middle" fill="#5b6673">'
            f"{_number(tick)}</text>"
        )
    out.append(
        f'<text x="{(_PAD_LEFT + WIDTH - _PAD_RIGHT) / 2}" y="{HEIGHT - 6}" '
        f'text-anchor="middle" fill="#1d2733">{escape(label)}</text>'
    )
    return out


def _y_axis(ticks: list[float], y: Callable[[float], float], label: str) -> list[str]:
    out = [
        f'<line x1="{_PAD_LEFT}" y1="{_PAD_TOP}" x2="{_PAD_LEFT}" y2="{HEIGHT - _PAD_BOTTOM}" '
        'stroke="#6b7785"/>'
    ]
    for tick in ticks:
        out.append(
            f'<line x1="{_PAD_LEFT}" y1="{y(tick):.1f}" x2="{WIDTH - _PAD_RIGHT}" '
            f'y2="{y(tick):.1f}" stroke="#e3e8ee"/>'
            f'<text x="{_PAD_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'fill="#5b6673">{_number(tick)}</text>'
        )
    out.append(
        f'<text transform="translate(14 {(_PAD_TOP + HEIGHT - _PAD_BOTTOM) / 2}) rotate(-90)" '
        f'text-anchor="middle" fill="#1d2733">{escape(label)}</text>'
    )
    return out


def _number(value: float) -> str:
    return f"{value:g}"


def _empty(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" height="48" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif">'
        f'<text x="8" y="28" fill="#5b6673">{escape(title)}: no samples</text></svg>'
    )
