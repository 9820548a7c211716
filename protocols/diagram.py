"""A protocol's flow chart as accessible SVG, laid out here in pure Python (no system package).

``protocol_svg(protocol)`` draws the stages top to bottom (who takes part on each side,
every timescale, soft limits dashed, the forms and the copies), the escalation between
stages, the resolved exits, and the bypass, urgent-entry and immediate-risk routes in a lane
on the left. Given a case's ``visited`` stages it marks the path taken and "You are here".
Everything drawn is text too: a ``<title>``, a ``<desc>`` that lists the stages in words,
and real ``<text>`` elements (never paths for letters), so screen readers and search see it.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from itertools import pairwise
from xml.sax.saxutils import escape

from protocols.schema import Protocol, Stage

WIDTH = 720
FONT = 14  # px; a line is FONT + 6
LINE = FONT + 6
CHAR = FONT * 0.53  # a generous average glyph width for Arial at this size
LANE = 90  # the left lane for the bypass / urgent / immediate-risk routes
BOX_X = LANE + 10
BOX_W = 470
EXIT_X = BOX_X + BOX_W + 40
EXIT_W = WIDTH - EXIT_X - 10
GAP = 54  # between stage boxes: room for the escalation arrow and its label
PAD = 10

INK = "#0b0c0c"
BLUE = "#1d70b8"
GREY = "#505a5f"
GREEN = "#00703c"
RED = "#d4351c"
PALE = "#f3f2f1"
YELLOW = "#ffdd00"


@dataclass
class _Line:
    text: str
    bold: bool = False
    dashed: bool = False  # a soft limit: drawn with a dashed marker
    marker: str = ""  # "hard" / "soft": a small square before the line


@dataclass
class _Box:
    stage: Stage
    lines: list[_Line] = field(default_factory=list)
    y: float = 0.0
    height: float = 0.0


def _wrap(text: str, width_px: float) -> list[str]:
    return textwrap.wrap(text, max(10, int(width_px / CHAR)), break_long_words=False,
                         break_on_hyphens=False) or [""]


def _stage_lines(protocol: Protocol, stage: Stage) -> list[_Line]:
    lines = [_Line(f"Stage {stage.id}: {stage.name}", bold=True)]
    if stage.internal:
        lines.append(_Line(f"Within the raising agency: {stage.raising.title} with "
                           f"{stage.receiving.title}"))
    else:
        lines.append(_Line(f"Raising side: {stage.raising.title}"))
        lines.append(_Line(f"Receiving side: {stage.receiving.title}"))
    if stage.advisers:
        lines.append(_Line("Advice from: " + "; ".join(stage.advisers)))
    if stage.meeting:
        lines.append(_Line("Held as a meeting"))
    for d in stage.deadlines:
        if d.on_expiry == "escalate":
            lines.append(_Line(f"{d.what}: {d.timescale.describe()} ({d.who}); escalates "
                               "when passed", marker="hard"))
        else:
            lines.append(_Line(f"{d.what}: {d.timescale.describe()} ({d.who}); soft limit, "
                               "reminders only", dashed=True, marker="soft"))
    for form in stage.forms:
        to = protocol.contacts[form.to].name if form.to in protocol.contacts else form.to
        lines.append(_Line(f"Form: {form.title}, sent to {to}"))
    for copy in protocol.copies_for(stage.id):
        who = protocol.contacts[copy.contact].name
        scope = {"every_communication": "every e-mail", "on_entry": "on entering the stage",
                 "on_resolution": "the resolution"}[copy.scope]
        attach = f", with {copy.attach.replace('_', ' ')}" if copy.attach else ""
        lines.append(_Line(f"Copy to {who}: {scope}{attach}"))
    for duty in stage.on_resolution:
        when = f" ({duty.timescale.describe()})" if duty.timescale else ""
        lines.append(_Line(f"When resolved: {duty.what}{when}"))
    return lines


def _text(x: float, y: float, content: str, *, bold: bool = False, size: int = FONT,
          fill: str = INK, anchor: str = "start") -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" fill="{fill}"{weight} '
            f'text-anchor="{anchor}">{escape(content)}</text>')


def _arrow(x1: float, y1: float, x2: float, y2: float, *, colour: str = INK, width: float = 2,
           dashed: bool = False, marker: str = "arrow") -> str:
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return (f'<path d="M{x1:.0f},{y1:.0f} L{x2:.0f},{y2:.0f}" stroke="{colour}" '
            f'stroke-width="{width}" fill="none"{dash} marker-end="url(#{marker})"/>')


def _lane(x: float, y1: float, y2: float, *, colour: str, dashed: bool, width: float = 2,
          marker: str = "arrow") -> str:
    """A route in the left lane: out of a box's left edge, down, and into another's."""
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return (f'<path d="M{BOX_X:.0f},{y1:.0f} H{x:.0f} V{y2:.0f} H{BOX_X - 2:.0f}" '
            f'stroke="{colour}" stroke-width="{width}" fill="none"{dash} '
            f'marker-end="url(#{marker})"/>')


def describe(protocol: Protocol, visited: list[str] | None = None,
             current: str | None = None) -> str:
    """The diagram in words (its ``<desc>``), stage by stage."""
    parts = [f"{protocol.partnership}: {protocol.document}, version {protocol.version}. "
             f"{len(protocol.stages)} stages, each escalating to the next when not resolved."]
    for stage in protocol.stages:
        hard = [d for d in stage.deadlines if d.on_expiry == "escalate"]
        soft = [d for d in stage.deadlines if d.on_expiry != "escalate"]
        words = f"Stage {stage.id}, {stage.name}"
        if hard:
            words += "; escalates after " + ", ".join(d.timescale.describe() for d in hard)
        if soft:
            words += "; soft limits " + ", ".join(d.timescale.describe() for d in soft)
        parts.append(words + ".")
    if protocol.bypass.allowed:
        parts.append("Stages may be bypassed" + (" when urgent" if protocol.bypass.urgent_only
                                                  else "") + ".")
    if protocol.risk_route.entry_stage:
        parts.append(f"Immediate risk goes to stage {protocol.risk_route.entry_stage}.")
    if visited:
        parts.append("This case has been at stage " + ", then ".join(visited) + ".")
    if current:
        parts.append(f"It is now at stage {current}.")
    return " ".join(parts)


def protocol_svg(protocol: Protocol, *, visited: list[str] | None = None,
                 current: str | None = None, id_prefix: str = "diagram") -> str:
    """The protocol as a standalone SVG document (also fit to inline in a page).

    ``visited``: the stages a case entered, in order (its path); ``current``: where it is.
    """
    ids = {st.id for st in protocol.stages}
    visited = [s for s in (visited or []) if s in ids]
    if current in ids and current not in visited:
        visited.append(current)
    seen = set(visited)
    text_w = BOX_W - 2 * PAD - 16
    header: list[str] = _wrap(f"{protocol.partnership}: {protocol.document}, "
                              f"version {protocol.version}", (WIDTH - 20) * 0.85)
    notes: list[str] = []
    if protocol.overall_limit:
        ol = protocol.overall_limit
        notes += _wrap(f"Overall limit: {ol.what}, {ol.timescale.describe()}, then to "
                       f"{ol.escalate_to}", WIDTH - 20)
    for v in protocol.routing_variants:
        notes += _wrap(f"Where {v.when[0].lower()}{v.when[1:]}: stages {', '.join(v.stages)} "
                       f"are taken by the {v.role}", WIDTH - 20)
    if not protocol.bypass.allowed:
        notes += _wrap("No stage may be skipped", WIDTH - 20)
    if protocol.policy_issues:
        notes += _wrap(f"Policy issues: straight to stage {protocol.policy_issues.stage}",
                       WIDTH - 20)
    entries: list[tuple[str, str, str, bool]] = []  # (label, to stage, colour, dashed)
    if protocol.urgent_entry and protocol.urgent_entry.stage in ids:
        entries.append(("Urgent", protocol.urgent_entry.stage, INK, True))
    if protocol.risk_route.entry_stage in ids:
        entries.append(("Immediate risk", protocol.risk_route.entry_stage or "", RED, False))
    y = 20 + LINE * (len(header) + len(notes) + len(entries)) + 40
    boxes: list[_Box] = []
    for stage in protocol.stages:
        box = _Box(stage, [])
        for line in _stage_lines(protocol, stage):
            for i, chunk in enumerate(_wrap(line.text, text_w)):
                box.lines.append(_Line(chunk, line.bold, line.dashed, line.marker if i == 0
                                       else ""))
        box.y = y
        box.height = PAD * 2 + LINE * len(box.lines) + (LINE if stage.id in seen else 0)
        boxes.append(box)
        y += box.height + GAP
    legend_y = y - GAP + 30
    height = legend_y + LINE * 5 + 10
    by_id = {b.stage.id: b for b in boxes}

    out: list[str] = []
    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    title = f"Flow chart: {protocol.partnership}, {protocol.short_name} protocol"
    if current:
        title += f", this case at stage {current}"
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
               f'width="{WIDTH}" height="{height:.0f}" role="img" class="app-diagram" '
               f'aria-labelledby="{title_id} {desc_id}" font-family="arial, sans-serif">')
    out.append(f'<title id="{title_id}">{escape(title)}</title>')
    out.append(f'<desc id="{desc_id}">{escape(describe(protocol, visited, current))}</desc>')
    out.append("<defs>")
    for name, colour in (("arrow", INK), ("arrow-path", BLUE), ("arrow-grey", GREY),
                         ("arrow-red", RED), ("arrow-green", GREEN)):
        out.append(f'<marker id="{id_prefix}-{name}" viewBox="0 0 10 10" refX="9" refY="5" '
                   f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                   f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>')
    out.append("</defs>")
    out.append(f'<rect width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>')
    ty = 20
    for i, line in enumerate(header):
        ty += LINE
        out.append(_text(10, ty, line, bold=True, size=FONT + 2 if i == 0 else FONT))
    for line in notes:
        ty += LINE
        out.append(_text(10, ty, line, fill=GREY))

    def m(name: str) -> str:
        return f"{id_prefix}-{name}"

    def fix(svg: str) -> str:  # the arrow markers carry the prefix
        return svg.replace('url(#arrow', f'url(#{id_prefix}-arrow')

    # Stage boxes, escalation arrows and the resolved exits.
    for n, box in enumerate(boxes):
        sid = box.stage.id
        here = sid == current
        was = sid in seen
        fill = YELLOW if here else ("#e8f1f8" if was else PALE)
        stroke, sw = (INK, 4) if here else ((BLUE, 3) if was else (GREY, 1.5))
        out.append(f'<g class="app-diagram__stage" data-stage="{escape(sid)}">')
        out.append(f'<rect x="{BOX_X}" y="{box.y:.0f}" width="{BOX_W}" '
                   f'height="{box.height:.0f}" rx="6" fill="{fill}" stroke="{stroke}" '
                   f'stroke-width="{sw}"/>')
        ly = box.y + PAD
        if was:
            ly += LINE
            steps = ", ".join(str(i + 1) for i, s in enumerate(visited) if s == sid)
            out.append(_text(BOX_X + PAD, ly - 4, ("You are here: " if here else "This case: ")
                             + f"step {steps}", bold=True))
        for line in box.lines:
            ly += LINE
            x = BOX_X + PAD
            if line.marker:
                dash = ' stroke-dasharray="3 2"' if line.marker == "soft" else ""
                colour = GREY if line.marker == "soft" else RED
                out.append(f'<rect x="{x:.0f}" y="{ly - 11:.0f}" width="10" height="10" '
                           f'fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            out.append(_text(x + 16 if (line.marker or not line.bold) else x, ly - 4,
                             line.text, bold=line.bold))
        out.append("</g>")
        # Resolved: the case closes (after the stage's duties).
        mid = box.y + min(box.height / 2, 40)
        out.append(fix(_arrow(BOX_X + BOX_W, mid, EXIT_X - 2, mid, colour=GREEN,
                              marker="arrow-green")))
        out.append(f'<rect x="{EXIT_X}" y="{mid - 16:.0f}" width="{EXIT_W}" height="32" '
                   f'rx="16" fill="#ffffff" stroke="{GREEN}" stroke-width="2"/>')
        out.append(_text(EXIT_X + EXIT_W / 2, mid + 5, "Resolved", anchor="middle"))
        if n + 1 < len(boxes):
            nxt = boxes[n + 1]
            taken = any(a == sid and b == nxt.stage.id for a, b in pairwise(visited))
            x = BOX_X + 60
            colour, marker, width = (BLUE, "arrow-path", 4) if taken else (INK, "arrow", 2)
            out.append(fix(_arrow(x, box.y + box.height, x, nxt.y - 2, colour=colour,
                                  width=width, marker=marker)))
            hard = box.stage.escalation_deadline
            label = ("Not resolved, or its timescale passed: escalate" if hard
                     else "Not resolved: escalate")
            out.append(_text(x + 12, box.y + box.height + GAP / 2 + 5, label))

    # The left lane: where cases enter other than at stage 1, and the jumps a case took.
    first = boxes[0]
    top = first.y - 12
    for i, (label, to, colour, dashed) in enumerate(entries):
        target = by_id[to]
        x = 60 + i * 18
        ty2 = target.y + 20 + i * 12
        label_y = top - 10 - (len(entries) - 1 - i) * LINE
        out.append(_text(x - 4, label_y, f"{label}: enter at stage {to}",
                         fill=RED if colour == RED else INK, bold=colour == RED))
        top_i = label_y + 6
        marker = "arrow-red" if colour == RED else "arrow"
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(f'<path d="M{x:.0f},{top_i:.0f} V{ty2:.0f} H{BOX_X - 2:.0f}" '
                   f'stroke="{colour}" stroke-width="2" fill="none"{dash} '
                   f'marker-end="url(#{m(marker)})"/>')
    if protocol.bypass.allowed and len(boxes) > 1:
        x = 26
        start = first.y + first.height - 20
        end = boxes[-1].y + 20
        out.append(fix(_lane(x, start, end, colour=GREY, dashed=True, marker="arrow-grey")))
        words = "Bypass to a later stage" + (" (urgent only)" if protocol.bypass.urgent_only
                                             else "")
        cy = (start + end) / 2
        out.append(f'<text x="14" y="{cy:.0f}" font-size="{FONT - 1}" fill="{INK}" '
                   f'text-anchor="middle" transform="rotate(-90 14 {cy:.0f})">'
                   f'{escape(words)}</text>')
    # The path this case took where it did not simply escalate: entered or jumped.
    if visited:
        if visited[0] != protocol.stages[0].id:
            target = by_id[visited[0]]
            out.append(fix(_arrow(BOX_X + BOX_W / 2, target.y - 24, BOX_X + BOX_W / 2,
                                  target.y - 2, colour=BLUE, width=4, marker="arrow-path")))
            out.append(_text(BOX_X + BOX_W / 2 + 10, target.y - 10, "This case started here",
                             bold=True))
        for a, b in pairwise(visited):
            ia, ib = protocol.stage_index(a), protocol.stage_index(b)
            if ib == ia + 1:
                continue
            x = 42
            out.append(fix(_lane(x, by_id[a].y + by_id[a].height - 10,
                                 by_id[b].y + 30, colour=BLUE, dashed=False, width=4,
                                 marker="arrow-path")))
    # Legend.
    ly = legend_y
    out.append(_text(10, ly, "Key", bold=True))
    items = [("hard", "Timescale that escalates the case when it passes"),
             ("soft", "Soft limit: a guide; reminders only, it never escalates"),
             ("route", ("Bypass (dashed grey) and entry" if protocol.bypass.allowed
                        else "Entry") + " routes on the left"),
             ("path", "Blue: the path this case took; yellow: where it is now")]
    for kind, words in items:
        ly += LINE
        if kind in ("hard", "soft"):
            dash = ' stroke-dasharray="3 2"' if kind == "soft" else ""
            colour = RED if kind == "hard" else GREY
            out.append(f'<rect x="10" y="{ly - 11:.0f}" width="10" height="10" fill="none" '
                       f'stroke="{colour}" stroke-width="2"{dash}/>')
        else:
            colour = BLUE if kind == "path" else GREY
            out.append(f'<path d="M6,{ly - 6:.0f} H22" stroke="{colour}" stroke-width="3"/>')
        out.append(_text(28, ly - 2, words))
    out.append("</svg>")
    return "\n".join(out)
