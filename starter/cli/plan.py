"""`resolutions plan` and `resolutions protocols`: a protocol's rules and timetable."""

from __future__ import annotations

import argparse
import json

from infra.settings import load_settings
from protocols.calendar import WorkingCalendar
from protocols.deadlines import plan
from protocols.diagram import protocol_svg
from protocols.loader import available_protocols, load_protocol, protocol_choices
from protocols.schema import Protocol
from starter.cli.category_text import category_lines
from starter.deadline_words import EXPIRY
from starter.timefmt import london, parse_moment, utc_now


def register(sub: argparse._SubParsersAction) -> None:
    from starter.cli import protocols

    p = sub.add_parser("plan", help="a protocol's timetable if every stage used its full time")
    p.add_argument("--protocol", required=True, help=protocol_choices())
    p.add_argument("--arose", help="when the concern arose (ISO 8601; London time if no offset)")
    p.add_argument("--start-stage", help="stage to start at (e.g. 3 for an urgent York case)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_plan)

    p = sub.add_parser("protocols", help="list the protocols, or show one")
    psub = p.add_subparsers(dest="action")
    show = psub.add_parser("show", help="print one protocol's rules readably")
    show.add_argument("name")
    show.add_argument("--svg", action="store_true",
                      help="print the protocol's flow chart as an SVG image instead")
    protocols.add_verify(psub)
    p.set_defaults(handler=cmd_protocols)


def calendar_from_settings() -> WorkingCalendar:
    settings = load_settings()
    return WorkingCalendar.from_settings(settings.working_day_cutoff, settings.local_closures)


def cmd_plan(args: argparse.Namespace) -> int:
    protocol = load_protocol(args.protocol)
    arose = parse_moment(args.arose, "--arose") if args.arose else utc_now()
    if args.start_stage and args.start_stage not in [s.id for s in protocol.stages]:
        ids = ", ".join(s.id for s in protocol.stages)
        raise ValueError(
            f"--start-stage '{args.start_stage}' is not a stage of {protocol.id}: {ids}"
        )
    timetable = plan(protocol, calendar_from_settings(), arose, args.start_stage)
    if args.json:
        out = {
            "protocol": timetable.protocol,
            "arose": timetable.arose.isoformat(),
            "stages": [
                {
                    "stage": s.stage,
                    "name": s.name,
                    "starts": s.starts.isoformat(),
                    "ends": s.ends.isoformat(),
                    "deadlines": [
                        {
                            "what": d.what,
                            "who": d.who,
                            "due": d.due.isoformat() if d.due else None,
                            "timescale": d.timescale,
                            "on_expiry": d.on_expiry,
                            "source": d.source,
                        }
                        for d in s.deadlines
                    ],
                }
                for s in timetable.stages
            ],
            "overall": [
                {"what": d.what, "due": d.due.isoformat() if d.due else None,
                 "on_expiry": d.on_expiry, "source": d.source}
                for d in timetable.overall
            ],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"{protocol.partnership} — timetable if every stage used its full time")
    print(f"Concern arose: {london(arose)} (London time)\n")
    for s in timetable.stages:
        print(f"Stage {s.stage}: {s.name}  (starts {london(s.starts)})")
        for d in s.deadlines:
            due = london(d.due) if d.due else f"no fixed time ({d.timescale})"
            print(f"  - {d.what}")
            passing = EXPIRY.get(d.on_expiry, d.on_expiry)
            print(f"      by: {d.who}; due: {due}; when it passes, {passing}")
            print(f"      source: {d.source}")
        print()
    for d in timetable.overall:
        print(f"Overall: {d.what} by {london(d.due)} ({d.timescale}); on expiry: {d.on_expiry}")
        print(f"  source: {d.source}")
    return 0


def cmd_protocols(args: argparse.Namespace) -> int:
    if getattr(args, "name", None):
        protocol = load_protocol(args.name)
        print(protocol_svg(protocol) if args.svg else describe_protocol(protocol))
        return 0
    for name in available_protocols():
        p = load_protocol(name)
        stages = " → ".join(s.id for s in p.stages)
        print(f"{name:<10} {p.partnership} ({p.edition}); stages {stages}")
    return 0


def describe_protocol(p: Protocol) -> str:
    lines = [f"{p.partnership} ({p.short_name})", f"{p.document}, {p.edition}",
             f"document sha256: {p.digest or 'not recorded'}",
             f"protocol id: {p.id}   content hash: {p.content_hash()[:16]}", ""]
    if p.required_case_fields:
        lines.append(f"Before raising: {', '.join(p.required_case_fields)}  "
                     f"[{p.required_case_fields_source}]")
    for pre in p.preconditions:
        lines.append(f"Precondition ({pre.applies_to_category}): {pre.requirement}  [{pre.source}]")
    lines += category_lines(p)
    lines.append(f"Immediate risk: {p.risk_route.instruction}")
    lines.append(f"  route: {' → '.join(p.risk_route.route)}"
                 + (f"; may enter at stage {p.risk_route.entry_stage}"
                    if p.risk_route.entry_stage else "")
                 + f"  [{p.risk_route.source}]")
    if p.urgent_entry:
        lines.append(f"Urgent entry: stage {p.urgent_entry.stage}  [{p.urgent_entry.source}]")
    bypass = "allowed" if p.bypass.allowed else "not allowed"
    if p.bypass.urgent_only:
        bypass += " when urgent"
    if p.bypass.requires_agreement_of:
        bypass += f", with the agreement of the {' and '.join(p.bypass.requires_agreement_of)}"
    lines.append(f"Bypass: {bypass}  [{p.bypass.source}]")
    if p.overall_limit:
        ol = p.overall_limit
        lines.append(f"Overall limit: {ol.timescale.describe()} from {ol.clock}; when passed: "
                     f"{ol.describe_passing()}  [{ol.source}]")
    lines.append("")
    for s in p.stages:
        lines.append(f"Stage {s.id}: {s.name}  [{s.source}]")
        lines.append(f"  {s.raising.title}  ↔  {s.receiving.title}")
        if s.advisers:
            lines.append(f"  advice from: {', '.join(s.advisers)}")
        for d in s.deadlines:
            lines.append(f"  • {d.what}: {d.timescale.describe()} from {d.clock.replace('_', ' ')};"
                         f" on expiry {d.on_expiry}  [{d.source}]")
        for duty in s.on_resolution:
            t = duty.timescale.describe() if duty.timescale else "no timescale"
            lines.append(f"  on resolution: {duty.what} ({t})  [{duty.source}]")
        for f in s.forms:
            lines.append(f"  form: {f.title} → {p.contacts[f.to].name}  [{f.source}]")
        for c in p.copies_for(s.id):
            if c.from_stage == s.id or s.id in c.at_stages:
                lines.append(f"  copied from here: {p.contacts[c.contact].name} ({c.scope})"
                             f"  [{c.source}]")
    for v in p.routing_variants:
        side = (f"for that agency's side only (kind '{v.applies_to_kind}'"
                + (f", {v.applies_to_side} side" if v.applies_to_side else "") + ")"
                if v.applies_to_kind else "for both sides")
        lines.append(f"Routing: {v.when}: {v.role} handles stages {', '.join(v.stages)} "
                     f"{side}  [{v.source}]")
    for duty in p.post_resolution:
        lines.append(f"After resolution: {duty.what}  [{duty.source}]")
    for g in p.guidance:
        lines.append(f"Guidance: {g.text}  [{g.source}]")
    return "\n".join(lines)
