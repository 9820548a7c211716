"""HTML tables and the standalone HTML page the audit commands write (text tables:
:func:`starter.cli.output.table`)."""

from __future__ import annotations

from html import escape

CSS = """
body{font-family:"GDS Transport",Arial,sans-serif;color:#0b0c0c;margin:2rem;max-width:1100px}
h1{font-size:1.8rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:2px solid #1d70b8}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border-bottom:1px solid #b1b4b6;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f2f1}.bad{color:#d4351c;font-weight:bold}.ok{color:#00703c}
.meta{color:#505a5f}.chart{display:block;margin:.5rem 0 1rem;max-width:100%;height:auto}
.key span{display:inline-block;margin-right:1rem}.sw{display:inline-block;width:.8rem;
height:.8rem;margin-right:.3rem;vertical-align:middle}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:0 2rem}
h3{font-size:1.05rem;margin:1.2rem 0 .2rem}
@media print{body{margin:0}h2{break-after:avoid}}
"""


def html_table(headers: list[str], rows: list[list[str]],
               classes: list[str] | None = None) -> str:
    """An HTML table; every cell is escaped. ``classes`` gives a CSS class per row."""
    if not rows:
        return '<p class="meta">None.</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>\n")
