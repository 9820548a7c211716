"""The timeline command's three views of a :class:`Story`: a readable table, JSON, an HTML page."""

from __future__ import annotations

import json
from html import escape

from starter.audit.story import DeadlineRow, Story
from starter.audit.svg import Lane, Mark, time_chart
from starter.audit.tables import html_table, page
from starter.cli.output import table
from starter.endings import label_from_history
from starter.timefmt import london


def _due(d: DeadlineRow) -> str:
    if d.due is None:
        return "to be agreed" if d.status == "awaiting_agreement" else d.timescale
    return london(d.due)


def _deadline_rows(rows: list[DeadlineRow]) -> list[list[str]]:
    return [[d.stage or d.kind, d.what, _due(d), d.status + (" (BREACHED)" if d.breached else ""),
             d.agreed or d.timescale, d.source] for d in rows]


ALWAYS_SHOWN = ("Stages", "Deadlines", "Breaches (a deadline passed before the outcome)")
DEADLINE_HEADERS = ["stage", "deadline", "due (London)", "status", "timescale", "rule"]


def _sections(story: Story) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) for every table, shared by the text and HTML views."""
    stages = [[s.stage, s.name, london(s.opened), london(s.closed) if s.closed else "open",
               "yes" if s.breached else "", s.entered] for s in story.stages]
    deadlines = [d for s in story.stages for d in s.deadlines] + story.overall + story.duties
    acts = [[london(a.at), a.stage or "", a.actor, a.via, a.kind, a.summary]
            for s in story.stages for a in s.acts]
    outcomes = [[o.stage, london(o.at), o.by.name, "resolved" if o.resolved else "not resolved",
                 o.summary] for s in story.stages for o in s.outcomes]
    bypasses = [[london(b.at), f"{b.from_stage} → {b.to_stage}", b.by, b.agreed_by,
                 b.agreement_of, b.reason] for b in story.bypasses]
    pauses = [[london(p.paused_at), london(p.resumed_at) if p.resumed_at else "still paused",
               p.by, p.resumed_by, p.reason] for p in story.pauses]
    extensions = [[london(a.at), a.stage or "", a.actor, a.kind.removeprefix("timescale_"),
                   a.summary] for a in story.extensions]
    mails = [[london(a.at), a.stage or "", a.summary] for a in story.notifications]
    breaches = [[d.stage or d.kind, d.what, london(d.due), london(d.passed_at), d.source]
                for d in story.breaches]
    return [
        ("Stages", ["stage", "name", "opened", "closed", "breach", "how it got there"], stages),
        ("Deadlines", DEADLINE_HEADERS, _deadline_rows(deadlines)),
        ("Who acted, and when", ["when", "stage", "who", "via", "what", "summary"], acts),
        ("Outcomes", ["stage", "when", "by", "result", "summary"], outcomes),
        ("Bypasses", ["when", "stages", "by", "agreed by", "agreement of", "reason"], bypasses),
        ("Pauses", ["paused", "resumed", "by", "resumed by", "reason"], pauses),
        ("Timescales agreed and extended", ["when", "stage", "by", "what", "summary"],
         extensions),
        ("Notifications sent", ["when", "stage", "e-mail"], mails),
        ("Breaches (a deadline passed before the outcome)",
         ["stage", "deadline", "due", "passed (recorded)", "rule"], breaches),
    ]


def _status(story: Story) -> str:
    ended = label_from_history(story.execution_status)
    if ended:  # ended outside the protocol: the record's own status stopped short
        return (f"{ended.upper()} in Temporal, outside the protocol (the record stopped while "
                f"{story.status}; kept, never purged automatically)")
    return f"{story.status} ({story.execution_status})"


def _header_lines(story: Story) -> list[str]:
    ok = sum(1 for c in story.checks if c.ok)
    return [
        f"Case {story.workflow_id}: {story.partnership} (protocol {story.protocol}, "
        f"hash {story.protocol_hash[:12]})",
        f"Status: {_status(story)}   urgency: {story.urgency}   "
        f"category: {story.category}   current stage: {story.current_stage}",
        f"Raised {london(story.raised_at)}: {story.raising_agency} with "
        f"{story.receiving_agency}"
        + (f"; closed {london(story.closed_at)}" if story.closed_at else ""),
        f"Record: {story.source}; checks: {ok}/{len(story.checks)} passed",
        *([f"Closed: {story.closing}"] if story.closing else []),
    ]


def render_text(story: Story) -> str:
    out = _header_lines(story)
    for check in story.checks:
        if not check.ok:
            out.append(f"  CHECK FAILED: {check.name}: {check.detail}")
    if story.attention:
        out += ["", "Needs attention"] + [f"  - {line}" for line in story.attention]
    for title, headers, rows in _sections(story):
        if rows or title in ALWAYS_SHOWN:
            out += ["", title, table(headers, rows)]
    if story.not_notified:
        out += ["", "Not notified (address missing)"] + [f"  - {n}" for n in story.not_notified]
    return "\n".join(out) + "\n"


def render_json(story: Story) -> str:
    return json.dumps(story.model_dump(mode="json"), indent=2) + "\n"


def lanes(story: Story) -> list[Lane]:
    out = []
    for s in story.stages:
        marks = [Mark(d.due, f"{d.what}: due {london(d.due)} ({d.status}; {d.source})",
                      "breach" if d.breached else ("met" if d.status == "met" else "due"))
                 for d in s.deadlines if d.due is not None]
        marks += [Mark(o.at, f"Outcome: {'resolved' if o.resolved else 'not resolved'} "
                             f"({o.by.name})", "event") for o in s.outcomes]
        resolved = any(o.resolved for o in s.outcomes)
        out.append(Lane(f"{s.stage} {s.name}", s.opened, s.closed,
                        "resolved" if resolved else "stage", marks))
    for d in story.overall + story.duties:
        if d.due is None:
            continue
        end = d.passed_at or (story.closed_at if d.status in ("met", "cancelled") else None)
        out.append(Lane(d.what, d.clock_start, end, d.kind,
                        [Mark(d.due, f"{d.what}: due {london(d.due)} ({d.status})",
                              "breach" if d.breached else "due")]))
    return out


def chart(story: Story) -> str:
    rows = lanes(story)
    moments = [story.raised_at, story.ended_at]
    moments += [m.at for lane in rows for m in lane.marks]
    shaded = [(p.paused_at, p.resumed_at or story.ended_at, f"Paused: {p.reason}")
              for p in story.pauses]
    return time_chart(rows, min(moments), max(moments), shaded)


def render_html(story: Story) -> str:
    head = "".join(f"<p class=\"meta\">{escape(line)}</p>" for line in _header_lines(story)[1:])
    checks = html_table(["check", "result", "detail"],
                        [[c.name, "OK" if c.ok else "FAILED", c.detail] for c in story.checks],
                        ["ok" if c.ok else "bad" for c in story.checks])
    key = ('<p class="key"><span><i class="sw" style="background:#1d70b8"></i>stage</span>'
           '<span><i class="sw" style="background:#00703c"></i>resolved there / deadline met'
           '</span><span><i class="sw" style="background:#0b0c0c"></i>deadline</span>'
           '<span><i class="sw" style="background:#d4351c"></i>deadline breached</span>'
           '<span><i class="sw" style="background:#f47738"></i>outcome recorded</span>'
           '<span><i class="sw" style="background:#dcdcdc"></i>paused</span></p>')
    body = [f"<h1>Case {escape(story.workflow_id)}</h1>",
            f"<p><strong>{escape(_header_lines(story)[0])}</strong></p>", head,
            "<h2>Stages against their deadlines</h2>", key, chart(story),
            "<h2>How this record was obtained</h2>", checks]
    if story.attention:
        body.append("<h2>Needs attention</h2><ul>"
                    + "".join(f"<li>{escape(n)}</li>" for n in story.attention) + "</ul>")
    for title, headers, rows in _sections(story):
        body += [f"<h2>{escape(title)}</h2>", html_table(headers, rows)]
    if story.not_notified:
        body.append("<h2>Not notified (address missing)</h2><ul>"
                    + "".join(f"<li>{escape(n)}</li>" for n in story.not_notified) + "</ul>")
    body.append("<h2>Full timeline</h2>")
    body.append(html_table(["#", "when", "stage", "event", "who", "via", "summary"],
                           [[str(e.seq), london(e.at), e.stage or "", e.kind, e.actor, e.via,
                             e.summary] for e in story.timeline]))
    return page(f"Case {story.workflow_id}: timeline", "".join(body))
