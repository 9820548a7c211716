"""Server-rendered bar charts (SVG) for the dashboard: no JavaScript, text a reader can read.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described, value by value,
in its ``<desc>``; every bar carries its label and number as real text.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from markupsafe import Markup

BAR = "#1d70b8"
INK = "#0b0c0c"
ROW = 30
LABEL_W = 110
WIDTH = 420


def bar_chart(title: str, items: list[tuple[str, int]], *, chart_id: str,
              empty: str = "Nothing to show yet.") -> Markup:
    """Horizontal bars, one per ``(label, value)``, scaled to the largest value."""
    height = 20 + ROW * max(len(items), 1)
    top = max((v for _, v in items), default=0)
    span = WIDTH - LABEL_W - 50
    words = "; ".join(f"{label}: {value}" for label, value in items) or empty
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
           f'width="{WIDTH}" height="{height}" role="img" class="app-chart" '
           f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-family="arial, sans-serif">',
           f'<title id="{chart_id}-title">{escape(title)}</title>',
           f'<desc id="{chart_id}-desc">{escape(words)}</desc>']
    if not items:
        out.append(f'<text x="0" y="24" font-size="16" fill="{INK}">{escape(empty)}</text>')
    for i, (label, value) in enumerate(items):
        y = 10 + i * ROW
        w = 0 if top == 0 else max(2 if value else 0, round(span * value / top))
        out.append(f'<text x="{LABEL_W - 8}" y="{y + 19}" font-size="16" fill="{INK}" '
                   f'text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{LABEL_W}" y="{y + 4}" width="{w}" height="{ROW - 8}" '
                   f'fill="{BAR}"/>')
        out.append(f'<text x="{LABEL_W + w + 6}" y="{y + 19}" font-size="16" '
                   f'fill="{INK}">{value}</text>')
    out.append("</svg>")
    return Markup("\n".join(out))
