"""Inline SVG charts (no JavaScript): a time chart of stages against deadlines, and bar charts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from protocols.calendar import LONDON
from protocols.caserecord import london

LABEL_W = 210
ROW_H = 30
AXIS_H = 34


@dataclass
class Mark:
    at: datetime
    label: str
    kind: str = "due"  # due | breach | met | event


@dataclass
class Lane:
    label: str
    start: datetime | None = None
    end: datetime | None = None  # None: still open (drawn to the chart's end, dashed)
    kind: str = "stage"  # stage | resolved | overall | duty
    marks: list[Mark] = field(default_factory=list)


def _ticks(start: datetime, end: datetime, max_ticks: int = 10) -> list[datetime]:
    days = max(1.0, (end - start).total_seconds() / 86400)
    step = next(s for s in (1, 2, 7, 14, 28, 56, 91, 182, 365, 730) if days / s <= max_ticks)
    first = start.astimezone(LONDON).replace(hour=0, minute=0, second=0, microsecond=0)
    ticks, t = [], first
    while t <= end:
        if t >= start:
            ticks.append(t)
        t = (t + timedelta(days=step)).replace(hour=0)
    return ticks


def time_chart(lanes: list[Lane], start: datetime, end: datetime,
               shaded: list[tuple[datetime, datetime, str]] | None = None,
               width: int = 960) -> str:
    """Stages as bars from opening to closing, deadlines as diamonds (red when breached)."""
    start = start.astimezone(LONDON).replace(hour=0, minute=0, second=0, microsecond=0)
    end = max(end, start + timedelta(days=1))
    end = end + (end - start) / 40
    span = (end - start).total_seconds()
    plot_w = width - LABEL_W - 20
    height = AXIS_H + ROW_H * len(lanes) + 10

    def x(moment: datetime) -> float:
        frac = (min(max(moment, start), end) - start).total_seconds() / span
        return LABEL_W + frac * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Stages against their deadlines">',
             '<style>.lbl{font:12px sans-serif;fill:#0b0c0c}.tick{font:11px sans-serif;'
             'fill:#505a5f}.stage{fill:#1d70b8}.resolved{fill:#00703c}.overall{fill:#b1b4b6}'
             '.duty{fill:#6f72af}.open{fill-opacity:.55}.due{fill:#0b0c0c}.breach{fill:#d4351c}'
             '.met{fill:#00703c}.event{fill:#f47738}.pause{fill:#b1b4b6;fill-opacity:.35}'
             '</style>']
    for t in _ticks(start, end):
        tx = x(t)
        parts.append(f'<line x1="{tx:.1f}" y1="{AXIS_H - 6}" x2="{tx:.1f}" y2="{height - 6}" '
                     'stroke="#dee0e2"/>')
        parts.append(f'<text class="tick" x="{tx:.1f}" y="{AXIS_H - 12}" text-anchor="middle">'
                     f'{london(t, "%d %b")}</text>')
    for a, b, why in shaded or []:
        parts.append(f'<rect class="pause" x="{x(a):.1f}" y="{AXIS_H - 6}" '
                     f'width="{max(2.0, x(b) - x(a)):.1f}" height="{height - AXIS_H}">'
                     f'<title>{escape(why)}</title></rect>')
    for i, lane in enumerate(lanes):
        y = AXIS_H + i * ROW_H
        parts.append(f'<text class="lbl" x="4" y="{y + 19}">{escape(lane.label[:32])}</text>')
        if lane.start is not None:
            x0, x1 = x(lane.start), x(lane.end or end)
            opened = "" if lane.end else " open"
            parts.append(f'<rect class="{lane.kind}{opened}" x="{x0:.1f}" y="{y + 7}" '
                         f'width="{max(2.0, x1 - x0):.1f}" height="16" rx="2">'
                         f'<title>{escape(lane.label)}</title></rect>')
        for mark in lane.marks:
            mx, my = x(mark.at), y + 15
            parts.append(f'<path class="{mark.kind}" d="M{mx:.1f} {my - 8} l7 8 l-7 8 l-7 -8 z">'
                         f'<title>{escape(mark.label)}</title></path>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, items: list[tuple[str, float]], unit: str = "",
              width: int = 520, show_title: bool = True) -> str:
    """Horizontal bars, one per item, longest = largest value."""
    if not items:
        return f'<p class="empty">{escape(title)}: none.</p>'
    top = max(v for _, v in items) or 1
    plot_w = width - LABEL_W - 60
    top_pad = 24 if show_title else 2
    height = top_pad + 2 + 24 * len(items)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}">',
             '<style>.lbl{font:12px sans-serif;fill:#0b0c0c}.ttl{font:bold 13px sans-serif}'
             '.bar{fill:#1d70b8}</style>',
             f'<text class="lbl ttl" x="4" y="16">{escape(title)}</text>' if show_title else ""]
    for i, (label, value) in enumerate(items):
        y = top_pad + i * 24
        w = plot_w * value / top
        shown = f"{value:g}{unit}"
        parts.append(f'<text class="lbl" x="4" y="{y + 15}">{escape(label[:30])}</text>')
        parts.append(f'<rect class="bar" x="{LABEL_W}" y="{y + 3}" width="{max(1.0, w):.1f}" '
                     f'height="16"><title>{escape(label)}: {shown}</title></rect>')
        parts.append(f'<text class="lbl" x="{LABEL_W + w + 6:.1f}" y="{y + 15}">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)
