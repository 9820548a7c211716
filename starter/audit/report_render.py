"""The monitoring report as text tables, JSON, and an HTML page with inline SVG bar charts."""

from __future__ import annotations

import json
from html import escape

from starter.audit.report import Report, Stats
from starter.audit.svg import bar_chart
from starter.audit.tables import html_table, page
from starter.cli.output import table
from starter.timefmt import london


def _title(report: Report) -> str:
    scope = f"{report.protocol} protocol" if report.protocol else "all protocols"
    period = ""
    if report.period_from or report.period_to:
        period = (f", raised {report.period_from.isoformat() if report.period_from else '…'}"
                  f" to {report.period_to.isoformat() if report.period_to else '…'}")
    return f"Professional disagreements: monitoring report ({scope}{period})"


def _counts(report: Report) -> list[tuple[str, dict[str, int]]]:
    return [
        ("Cases by raising agency", report.by_raising_agency),
        ("Cases by receiving agency", report.by_receiving_agency),
        ("Highest stage reached", report.highest_stage),
        ("Cases by category", report.by_category),
        ("Cases by urgency", report.by_urgency),
        ("Resolved or not", report.by_result),
        ("Deadline breaches by stage", report.breaches_by_stage),
        ("Cases needing attention, by flag", report.attention_by_kind),
    ]


def _stats_row(name: str, s: Stats) -> list[str]:
    def f(v: float | None) -> str:
        return "" if v is None else f"{v:g}"

    return [name, str(s.count), f(s.mean), f(s.median), f(s.minimum), f(s.maximum)]


STATS_HEADERS = ["time to resolution", "cases", "mean", "median", "min", "max"]


def _tables(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    stats = [_stats_row("working days", report.resolution_working_days),
             _stats_row("calendar days", report.resolution_calendar_days)]
    bypasses = [[b.workflow_id, london(b.at), f"{b.from_stage} → {b.to_stage}", b.agreed_by,
                 b.reason] for b in report.bypasses]
    pauses = [[p.workflow_id, london(p.paused_at),
               london(p.resumed_at) if p.resumed_at else "still paused",
               "" if p.working_days is None else str(p.working_days), p.reason]
              for p in report.pauses]
    lines = [[c.workflow_id, london(c.raised_at), f"{c.raising_agency} → {c.receiving_agency}",
              c.category, c.urgency, c.highest_stage, c.result,
              "" if c.working_days is None else str(c.working_days),
              "" if c.calendar_days is None else str(c.calendar_days), str(c.breaches),
              str(c.bypasses), str(c.pauses), str(len(c.attention))] for c in report.lines]
    attention = [[a.workflow_id, a.kind, a.text] for a in report.attention]
    closings = [[c.workflow_id, c.closing, c.closing_decided_by]
                for c in report.lines if c.closing]
    return [
        ("Time to resolution", STATS_HEADERS, stats),
        (f"Needs attention ({report.needing_attention} case(s))", ["case", "flag", "what"],
         attention),
        ("Closed without written confirmation", ["case", "why", "decided by"],
         closings),
        ("Bypasses", ["case", "when", "stages", "agreed by", "reason"], bypasses),
        ("Pauses", ["case", "paused", "resumed", "working days", "reason"], pauses),
        ("Cases", ["case", "raised", "agencies", "category", "urgency", "highest stage",
                   "result", "WD to resolve", "days to resolve", "breaches", "bypasses",
                   "pauses", "flags"], lines),
    ]


def render_text(report: Report) -> str:
    out = [_title(report), f"{report.cases} case(s)."]
    for title, counts in _counts(report):
        rows = [[k, str(v)] for k, v in counts.items()]
        out += ["", title, table(["", "cases" if "breach" not in title else "breaches"], rows)]
    for title, headers, rows in _tables(report):
        out += ["", title, table(headers, rows, 50)]
    return "\n".join(out) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"


def render_html(report: Report) -> str:
    body = [f"<h1>{escape(_title(report))}</h1>",
            f'<p class="meta">{report.cases} case(s).</p>']
    charts = [(title, [(k, float(v)) for k, v in counts.items()], "")
              for title, counts in _counts(report)]
    res, cal = report.resolution_working_days, report.resolution_calendar_days
    if res.count:
        charts.append(("Time to resolution (mean)", [("working days", res.mean or 0.0),
                                                     ("calendar days", cal.mean or 0.0)], " d"))
    body.append('<div class="grid">')
    for title, items, unit in charts:
        body.append(f"<section><h3>{escape(title)}</h3>"
                    f"{bar_chart(title, items, unit, show_title=False)}</section>")
    body.append("</div><h2>Time to resolution</h2>")
    for title, headers, rows in _tables(report):
        if title != "Time to resolution":
            body.append(f"<h2>{escape(title)}</h2>")
        body.append(html_table(headers, rows))
    return page(_title(report), "".join(body))
