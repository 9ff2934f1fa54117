"""Small inline SVG charts for the HTML report: no JavaScript, no fonts or files fetched.

Each chart is one `<svg data-chart="NAME">` whose marks carry the numbers they draw as
`data-*` attributes, so a test (or an analyst's script) can read the values back from the
DOM instead of guessing them from pixels. Text is escaped here; callers pass plain strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

# Colour-blind-safe (Okabe–Ito), then greys for the long tail.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#999999",
    "#666666",
)
WIDTH = 760
INK, MUTED, GRID, TRACK = "#1f2933", "#52606d", "#d9e2ec", "#e4ecf5"


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _attrs(values: Mapping[str, object]) -> str:
    return "".join(f' data-{k}="{escape(str(v))}"' for k, v in values.items())


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    size: int = 12,
    fill: str = INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"'
        f' fill="{fill}" font-weight="{weight}">{escape(text)}</text>'
    )


def _fit(label: str, width: float, size: int = 12) -> str:
    """Cut `label` with an ellipsis to about `width` pixels (wide CJK glyphs count double)."""
    used = 0.0
    for i, ch in enumerate(label):
        used += size if ord(ch) > 0x2E7F else size * 0.6
        if used > width:
            return label[: max(i - 1, 0)] + "…"
    return label


def _svg(name: str, height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg data-chart="{escape(name)}" role="img"'
        f' viewBox="0 0 {WIDTH} {height:.0f}" width="100%" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _empty(name: str, title: str, message: str) -> str:
    return _svg(name, 60, title, [_text(WIDTH / 2, 35, message, anchor="middle", fill=MUTED)])


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: `value` drawn dark, `behind` (if any) drawn light underneath."""

    label: str
    value: float
    text: str
    data: dict[str, object] = field(default_factory=dict)
    behind: float | None = None
    colour: str = PALETTE[0]


def hbars(
    name: str, title: str, bars: Sequence[Bar], *, scale: float | None = None, empty: str = ""
) -> str:
    """Horizontal bars with a label column on the left and the value's text at the bar's end."""
    if not bars:
        return _empty(name, title, empty)
    row, label_w, text_w = 30, 230, 150
    track = WIDTH - label_w - text_w
    top = max([scale or 0.0] + [max(b.value, b.behind or 0.0) for b in bars]) or 1.0
    body: list[str] = []
    for i, b in enumerate(bars):
        y = 10 + i * row
        body.append(_text(label_w - 10, y + 17, _fit(b.label, label_w - 14), anchor="end"))
        body.append(f'<rect x="{label_w}" y="{y + 4}" width="{track}" height="18" fill="{TRACK}"/>')
        if b.behind is not None:
            w = track * b.behind / top
            body.append(
                f'<rect data-mark="behind" x="{label_w}" y="{y + 4}" width="{w:.1f}" height="18"'
                f' fill="{b.colour}" fill-opacity="0.3"/>'
            )
        w = track * b.value / top
        body.append(
            f'<rect data-mark="bar"{_attrs(b.data)} x="{label_w}" y="{y + 4}" width="{w:.1f}"'
            f' height="18" fill="{b.colour}"><title>{escape(b.label)}: {escape(b.text)}</title>'
            "</rect>"
        )
        body.append(_text(label_w + track + 8, y + 17, b.text, fill=MUTED))
    return _svg(name, 20 + len(bars) * row, title, body)


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    counts: Mapping[str, int]  # period -> count


def stacked_columns(
    name: str, title: str, periods: Sequence[str], series: Sequence[Series], *, empty: str = ""
) -> str:
    """One column per period, stacked by series, with a y axis, period labels and a legend."""
    if not periods or not series:
        return _empty(name, title, empty)
    left, right, top_pad, plot_h = 48, 12, 12, 220
    legend_rows = len(series)
    height = top_pad + plot_h + 50 + legend_rows * 20
    totals = [sum(s.counts.get(p, 0) for s in series) for p in periods]
    top = _nice(max(totals))
    plot_w = WIDTH - left - right
    slot = plot_w / len(periods)
    bar_w = max(2.0, min(48.0, slot * 0.7))
    base = top_pad + plot_h
    body: list[str] = []
    for k in range(5):
        value = top * k / 4
        y = base - plot_h * k / 4
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        body.append(_text(left - 6, y + 4, f"{value:g}", anchor="end", size=11, fill=MUTED))
    every = max(1, len(periods) // 12)  # at most ~12 period labels, evenly spaced
    for i, period in enumerate(periods):
        x = left + slot * i + (slot - bar_w) / 2
        y = base
        for j, s in enumerate(series):
            n = s.counts.get(period, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            body.append(
                f'<rect data-mark="bar"{_attrs({"series": s.key, "period": period, "count": n})}'
                f' x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour(j)}">'
                f"<title>{escape(s.label)} {escape(period)}: {n}</title></rect>"
            )
        if i % every == 0:
            body.append(_text(x + bar_w / 2, base + 16, period, anchor="middle", size=11))
    for j, s in enumerate(series):
        y = base + 40 + j * 20
        total = sum(s.counts.values())
        body.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{colour(j)}"/>')
        body.append(_text(left + 18, y, f"{s.label} ({total})"))
    return _svg(name, height, title, body)


def _nice(value: int) -> float:
    """A round axis maximum at or above `value`: four ticks of 1, 2, 2.5, 3 or 5 × 10^k each."""
    need = max(value, 1) / 4
    magnitude = 1
    while True:
        for m in (1, 2, 2.5, 3, 5):
            step = m * magnitude
            if step >= need and (m != 2.5 or magnitude >= 10):
                return float(4 * step)
        magnitude *= 10
