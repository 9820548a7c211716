"""The partnership forms, rendered from a case's own record, never retyped.

Swindon's Appendix 1 Resolution Form, Leeds' Appendix 3 notification form and York's written
account for the CYSCP Business Unit are the partnerships' own documents, named by the protocol
files (``[[stages.forms]]``, kinds in :data:`protocols.schema.FORM_KINDS`). Each is produced as
a standalone HTML page with a print stylesheet, so a person can print it or save it as PDF. The
e-mail activity attaches them; ``resolutions form`` writes one from a running or closed case.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from protocols import caserecord as record
from protocols.messages import CaseDetails, CaseState, TimelineEvent
from protocols.schema import FORM_KINDS, Protocol

TEMPLATE_DIR = Path(__file__).parent / "templates"
CHRONOLOGY = ("raised", "stage_entered", "escalated", "bypass", "outcome_recorded", "resolved",
              "timescale_agreed", "timescale_extended", "paused", "resumed", "immediate_risk",
              "role_assigned", "deadline_passed", "confirmed_in_writing", "withdrawn", "closed",
              "discussion_recorded", "step_done")


@lru_cache(maxsize=8)
def template_environment(*dirs: Path) -> Environment:
    """A Jinja2 environment over ``dirs`` (the first that has a template wins), with the
    London-time filters; HTML templates are autoescaped."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in dirs]),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["london"] = record.london
    env.filters["uk_date"] = record.uk_date
    return env


def check_form_kind(kind: str, protocol: Protocol | None = None) -> None:
    """Refuse a form the system does not know, or (given a protocol) one it does not name."""
    if kind not in FORM_KINDS:
        raise ValueError(f"unknown form '{kind}'; choose one of: {', '.join(FORM_KINDS)}")
    if protocol is not None and kind not in protocol.form_kinds:
        raise ValueError(f"the {protocol.short_name} protocol has no form '{kind}'; its forms: "
                         f"{', '.join(sorted(protocol.form_kinds)) or 'none'}")


def render_case_form(kind: str, *, protocol: Protocol, case: CaseDetails, state: CaseState,
                     timeline: list[TimelineEvent], template_dir: Path | None = None) -> str:
    """Render one partnership form as a printable HTML page from the case's record;
    ``template_dir``'s own ``forms/<kind>.html`` wins over ours."""
    check_form_kind(kind)
    stage = protocol.stage(state.stage)
    notifier = record.holder(state, case, f"{stage.id}.raising") or case.raising
    resolution = next((o for o in reversed(state.outcomes) if o.resolved), None)
    agencies = list(dict.fromkeys(
        p.agency for p in [case.raising, case.receiving, *state.holders.values()] if p.agency))
    ladder = record.stage_rows(protocol, case, state, timeline)
    context = {
        "kind": kind,
        "title": record.form_title(kind, protocol),
        "protocol": protocol,
        "case": case,
        "child": case.child,
        "state": state,
        "stage": stage,
        "notifier": notifier,
        "representative": notifier,
        "agencies": agencies,
        "rows": record.stage_rows(protocol, case, state, timeline, include_exceptional=False),
        "ladder": ladder,
        "steps": record.steps_taken(ladder),
        "resolution": resolution,
        "chronology": [e for e in timeline if e.kind in CHRONOLOGY],
        "notified_on": state.stage_entered_at,
        "person_line": record.person_line,
        "role_title": lambda s, side: record.role_title(protocol, case, s, side),
    }
    dirs = (template_dir, TEMPLATE_DIR) if template_dir else (TEMPLATE_DIR,)
    return template_environment(*dirs).get_template(f"forms/{kind}.html").render(context)
