"""The partnership forms, rendered from a case's own record, never retyped.

Swindon's Appendix 1 Resolution Form, Leeds' Appendix 3 notification form and York's written
account for the CYSCP Business Unit are the partnerships' own documents, named by the protocol
files (``[[stages.forms]]``, kinds in :data:`protocols.schema.FORM_KINDS`). Each is produced as
a standalone HTML page with a print stylesheet, so a person can print it or save it as PDF. The
e-mail activity attaches them; ``resolutions form`` writes one from a running or closed case.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from protocols import caserecord as record
from protocols.messages import Actor, CaseDetails, CaseState, Person, TimelineEvent
from protocols.schema import FORM_KINDS, Protocol, Stage

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


def _holders(protocol: Protocol, case: CaseDetails, state: CaseState,
             stage: Stage) -> dict[str, Person]:
    """The stage's holders by side, each with the agency of the side they hold (and the
    stage's role title) where their own record names none: a holder named on the command
    line has only a name and an address."""
    found = {}
    for side in ("raising", "receiving"):
        person = record.role_holder(protocol, case, state, stage, side)
        if person is not None:
            found[side] = person.model_copy(update={
                "agency": person.agency or getattr(case, side).agency,
                "role": person.role or record.role_title(protocol, case, stage, side)})
    return found


def _known(actor: Actor, parties: list[Person]) -> Person:
    """The actor as the case knows them: the party with the same e-mail (else name) fills the
    role, agency and address the actor did not give."""
    match = next((p for p in parties if actor.email and p.email.lower() == actor.email.lower()),
                 None) or next((p for p in parties if p.name and p.name == actor.name), None)
    return Person(name=actor.name, role=actor.role or (match.role if match else ""),
                  agency=actor.agency or (match.agency if match else ""),
                  email=actor.email or (match.email if match else ""))


def _informed(parties: list[Person]) -> list[Person]:
    """The parties the resolution e-mail reaches (both practitioners and the stage's
    holders, as it is addressed), those with an address, once each."""
    unique: dict[str, Person] = {}
    for person in parties:
        if person.email:
            unique.setdefault(person.email.lower(), person)
    return list(unique.values())


def render_case_form(kind: str, *, protocol: Protocol, case: CaseDetails, state: CaseState,
                     timeline: list[TimelineEvent], template_dir: Path | None = None,
                     addresses: Mapping[str, str] | None = None) -> str:
    """Render one partnership form as a printable HTML page from the case's record;
    ``template_dir``'s own ``forms/<kind>.html`` wins over ours. ``addresses`` are the
    deployment's addresses for the protocol's contacts (else the protocol file's)."""
    check_form_kind(kind)
    stage = protocol.stage(state.stage)
    holders = _holders(protocol, case, state, stage)
    parties = [*holders.values(), case.raising, case.receiving]
    # Who provides the notification: the stage's raising-side holder, else the raiser.
    notifier = holders.get("raising", case.raising)
    resolution = next((o for o in reversed(state.outcomes) if o.resolved), None)
    forms = [f for st in protocol.stages for f in st.forms if f.kind == kind]
    to = forms[0].to if forms else ""
    return_to = (addresses or {}).get(to) or (protocol.contacts[to].email if to else "")
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
        "outcome_from": _known(resolution.by, parties) if resolution else None,
        # The resolution e-mail tells every party at the moment of resolution (the form goes
        # with it); who it went to is listed beside the date.
        "informed": _informed([case.raising, case.receiving, *holders.values()])
        if resolution else [],
        "return_to": return_to,
        "chronology": [e for e in timeline if e.kind in CHRONOLOGY],
        "notified_on": state.stage_entered_at,
        "person_line": record.person_line,
        "role_title": lambda s, side: record.role_title(protocol, case, s, side),
    }
    dirs = (template_dir, TEMPLATE_DIR) if template_dir else (TEMPLATE_DIR,)
    return template_environment(*dirs).get_template(f"forms/{kind}.html").render(context)
