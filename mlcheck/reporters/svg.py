"""Hand-written inline SVG charts for the HTML report: small, dependency-free, no script.

Each function takes plain numbers from a check's details and returns one `<svg>` element as
text. Every label is escaped (category and column names are user data); every coordinate is
rounded to 0.1 px so the output is byte-stable. Hovering a bar or point shows its numbers
through SVG `<title>` elements, which browsers display without JavaScript.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from mlcheck.reporters.common import one_line

WIDTH = 640
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 30, 40
RESEARCH, LIVE = "research", "live"  # CSS classes; the colours live in the report's style sheet


def esc(text: object) -> str:
    """Text safe inside an element or a quoted attribute (control characters made visible)."""
    return html.escape(one_line(str(text)), quote=True)


def num(value: float) -> str:
    """A coordinate rounded to 0.1 px, without a trailing `.0`."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def tick_label(value: float) -> str:
    """An axis or data label: 4 significant digits, no exponent for everyday magnitudes."""
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e6:
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return f"{value:.2e}"


def percent(share: float) -> str:
    return f"{share * 100:.3g}%"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-number ticks covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value = first + len(ticks) * step
    return ticks


@dataclass(frozen=True)
class Frame:
    """The plot area of a chart and the data ranges mapped onto it."""

    height: int
    x_low: float
    x_high: float
    y_low: float
    y_high: float

    def x(self, value: float) -> float:
        span = self.x_high - self.x_low or 1.0
        return LEFT + (value - self.x_low) / span * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        span = self.y_high - self.y_low or 1.0
        return self.height - BOTTOM - (value - self.y_low) / span * (self.height - TOP - BOTTOM)

    @property
    def bottom(self) -> float:
        return self.height - BOTTOM


def _svg(height: int, title: str, body: list[str]) -> str:
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">'
    )
    return "\n".join([head, f"<title>{esc(title)}</title>", *body, "</svg>"])


def _y_axis(frame: Frame, ticks: Sequence[float], fmt: Any = tick_label) -> list[str]:
    out = []
    for value in ticks:
        y = num(frame.y(value))
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        out.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y}" text-anchor="end">{fmt(value)}</text>'
        )
    return out


def _x_axis(frame: Frame, ticks: Sequence[float]) -> list[str]:
    out = [
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{num(frame.bottom)}" y2="{num(frame.bottom)}"/>'
    ]
    for value in ticks:
        x = num(frame.x(value))
        out.append(
            f'<text class="tick" x="{x}" y="{num(frame.bottom + 16)}" text-anchor="middle">'
            f"{tick_label(value)}</text>"
        )
    return out


def _legend(entries: Sequence[tuple[str, str]]) -> list[str]:
    """Swatches along the top: (css class, label)."""
    out, x = [], LEFT
    for css, text in entries:
        if css == "limit":  # a reference line is shown as a line
            out.append(f'<line class="{css}" x1="{x}" x2="{x + 12}" y1="14" y2="14"/>')
        else:
            out.append(f'<rect class="{css}" x="{x}" y="8" width="12" height="12"/>')
        out.append(f'<text class="legend" x="{x + 17}" y="18">{esc(text)}</text>')
        x += 30 + 7 * len(text)
    return out


def histogram(
    edges: Sequence[float], research: Sequence[float], live: Sequence[float], title: str
) -> str:
    """Research and live shares per shared bin, overlaid (each side's counts sum to 100%)."""
    bins = len(edges) - 1
    if bins < 1 or len(research) != bins or len(live) != bins:
        return ""
    if min(*research, *live) < 0 or any(b <= a for a, b in itertools.pairwise(edges)):
        return ""
    n_ref, n_live = sum(research), sum(live)
    if not n_ref or not n_live:
        return ""
    ref_share = [c / n_ref for c in research]
    live_share = [c / n_live for c in live]
    top = max(*ref_share, *live_share)
    frame = Frame(240, edges[0], edges[-1], 0.0, top * 1.08)
    body = _legend(
        [(RESEARCH, f"research (n={round(n_ref):,})"), (LIVE, f"live (n={round(n_live):,})")]
    )
    body += _y_axis(frame, nice_ticks(0.0, top, 4), percent)
    for i in range(len(edges) - 1):
        body += _bin(frame, edges[i], edges[i + 1], ref_share[i], live_share[i])
    body.append(_step_line(frame, edges, live_share))
    body += _x_axis(frame, nice_ticks(edges[0], edges[-1], 7))
    return _svg(frame.height, title, body)


def _step_line(frame: Frame, edges: Sequence[float], shares: Sequence[float]) -> str:
    """The live distribution as an outline over the research bars, so neither hides the other."""
    points = [(frame.x(edges[0]), frame.bottom)]
    for i, share in enumerate(shares):
        y = frame.y(share)
        points += [(frame.x(edges[i]), y), (frame.x(edges[i + 1]), y)]
    points.append((frame.x(edges[-1]), frame.bottom))
    path = " ".join(f"{num(x)},{num(y)}" for x, y in points)
    return f'<polyline class="{LIVE} step" points="{path}"/>'


def _bin(frame: Frame, left: float, right: float, ref: float, cur: float) -> list[str]:
    x0, x1 = frame.x(left), frame.x(right)
    y = frame.y(ref)
    out = [
        f'<rect class="{RESEARCH} bar" x="{num(x0)}" y="{num(y)}" width="{num(x1 - x0)}" '
        f'height="{num(frame.bottom - y)}"/>'
    ]
    tip = f"[{tick_label(left)}, {tick_label(right)}): research {percent(ref)}, live {percent(cur)}"
    out.append(
        f'<rect class="hit" x="{num(x0)}" y="{TOP}" width="{num(x1 - x0)}" '
        f'height="{num(frame.bottom - TOP)}"><title>{esc(tip)}</title></rect>'
    )
    return out


def chunk_performance(
    chunks: Sequence[Mapping[str, Any]], baseline: float | None, bar: float | None, metric: str
) -> str:
    """Realized (filled) and estimated (hollow) metric per chunk, its interval, baseline and bar."""
    values = [
        float(v)
        for c in chunks
        for v in (c.get("realized"), c.get("estimated"), c.get("lower"), c.get("upper"))
        if _finite(v)
    ]
    values += [float(v) for v in (baseline, bar) if _finite(v)]
    if not chunks or not values:
        return ""
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or 0.01
    frame = Frame(260, -0.5, len(chunks) - 0.5, low - pad, high + pad)
    body = _legend(
        [
            (RESEARCH, "realized (labelled rows)"),
            (LIVE, "estimated (unlabelled rows)"),
            ("limit", "bar"),
        ]
    )
    body += _y_axis(frame, nice_ticks(low - pad, high + pad, 7))
    body += _bands(frame, chunks)
    body += _reference_line(frame, baseline, "baseline", f"baseline {tick_label(baseline or 0)}")
    body += _reference_line(frame, bar, "limit", f"bar {tick_label(bar or 0)}")
    for key, css in (("realized", RESEARCH), ("estimated", LIVE)):
        body += _series(frame, chunks, key, css, metric)
    return _svg(frame.height, f"{metric} per chunk", body)


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bands(frame: Frame, chunks: Sequence[Mapping[str, Any]]) -> list[str]:
    """A tinted band behind failing/warning chunks, the interval whisker, and the chunk label."""
    out = []
    for i, chunk in enumerate(chunks):
        status = str(chunk.get("status", ""))
        x0, x1 = frame.x(i - 0.5), frame.x(i + 0.5)
        if status in ("fail", "warn"):
            out.append(
                f'<rect class="band-{status}" x="{num(x0)}" y="{TOP}" width="{num(x1 - x0)}" '
                f'height="{num(frame.bottom - TOP)}"/>'
            )
        lower, upper = chunk.get("lower"), chunk.get("upper")
        if _finite(lower) and _finite(upper):
            x = num(frame.x(i))
            out.append(
                f'<line class="whisker" x1="{x}" x2="{x}" y1="{num(frame.y(lower))}" '
                f'y2="{num(frame.y(upper))}"/>'
            )
        if i % _label_step(chunks) == 0:
            out.append(
                f'<text class="tick status-{esc(status)}" x="{num(frame.x(i))}" '
                f'y="{num(frame.bottom + 16)}" text-anchor="middle">'
                f"{esc(_chunk_label(i, chunk))}</text>"
            )
    out.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{num(frame.bottom)}" y2="{num(frame.bottom)}"/>'
    )
    return out


def _label_step(chunks: Sequence[Mapping[str, Any]]) -> int:
    """Every how many chunks an x label fits: dates need about 80 px, numbers about 40."""
    dated = bool(chunks) and isinstance(chunks[0].get("start"), str)
    fits = (WIDTH - LEFT - RIGHT) // (80 if dated else 40)
    return max(1, math.ceil(len(chunks) / fits))


def _chunk_label(index: int, chunk: Mapping[str, Any]) -> str:
    start = chunk.get("start")
    if isinstance(start, str):  # time chunks start at an ISO timestamp: its date is enough
        return start[:10]
    return f"#{index + 1}"


def _reference_line(frame: Frame, value: float | None, css: str, text: str) -> list[str]:
    if not _finite(value):
        return []
    y = num(frame.y(float(value or 0)))
    return [
        f'<line class="{css}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>',
        f'<text class="ref-label" x="{WIDTH - RIGHT - 4}" y="{num(frame.y(float(value or 0)) - 4)}" '
        f'text-anchor="end">{esc(text)}</text>',
    ]


def _series(
    frame: Frame, chunks: Sequence[Mapping[str, Any]], key: str, css: str, metric: str
) -> list[str]:
    points = [(i, c[key]) for i, c in enumerate(chunks) if _finite(c.get(key))]
    if not points:
        return []
    path = " ".join(f"{num(frame.x(i))},{num(frame.y(v))}" for i, v in points)
    out = [f'<polyline class="{css} line" points="{path}"/>']
    for i, value in points:
        chunk = chunks[i]
        tip = (
            f"chunk {_chunk_label(i, chunk)} ({chunk.get('start')} to {chunk.get('end')}): "
            f"{key} {metric} {tick_label(value)}, n={chunk.get('n')}, "
            f"labelled={chunk.get('n_labelled')}, status {chunk.get('status')}"
        )
        out.append(
            f'<circle class="{css} point {key}" cx="{num(frame.x(i))}" cy="{num(frame.y(value))}" '
            f'r="{5 if len(chunks) <= 30 else 3}"><title>{esc(tip)}</title></circle>'
        )
    return out


def paired_bars(
    rows: Sequence[tuple[str, float, float]],
    title: str,
    value_name: str,
    sides: tuple[str, str] = ("research", "live"),
) -> str:
    """Horizontal pairs of bars per row label (shares or rates, 0-1): the first side (research,
    or what research predicts) on top, the second (live) below."""
    if not rows:
        return ""
    top = max(max(r, c) for _, r, c in rows) or 1.0
    label_width = 150
    height = TOP + 28 * len(rows) + 24
    scale = (WIDTH - label_width - 90) / top
    body = _legend([(RESEARCH, f"{sides[0]} {value_name}"), (LIVE, f"{sides[1]} {value_name}")])
    for i, (name, ref, cur) in enumerate(rows):
        y = TOP + 4 + 28 * i
        shown = name if len(name) <= 22 else name[:21] + "…"
        body.append(
            f'<text class="tick" x="{label_width - 8}" y="{y + 14}" text-anchor="end">'
            f"<title>{esc(name)}</title>{esc(shown)}</text>"
        )
        for j, (css, value) in enumerate(((RESEARCH, ref), (LIVE, cur))):
            body.append(
                f'<rect class="{css}" x="{label_width}" y="{y + 11 * j}" '
                f'width="{num(max(value * scale, 0.5))}" height="10"/>'
            )
            body.append(
                f'<text class="value" x="{num(label_width + value * scale + 4)}" '
                f'y="{y + 9 + 11 * j}">{percent(value)}</text>'
            )
    return _svg(height, title, body)
