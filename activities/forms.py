"""Partnership forms rendered from a case's own record, never retyped.

Swindon's Appendix 1 Resolution Form, Leeds' Appendix 3 notification form and York's written
account for the CYSCP Business Unit are produced as standalone HTML pages with a print
stylesheet, so a person can print them or save them as PDF. :func:`render_form` takes a
:class:`NotificationRequest`; :func:`render_case_form` takes the pieces, for the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from protocols.calendar import LONDON
from protocols.messages import (
    CONTACT_METHODS,
    CaseDetails,
    CaseState,
    NotificationRequest,
    Outcome,
    Person,
    TimelineEvent,
)
from protocols.schema import Protocol, Stage

FormKind = Literal["swindon_appendix_1", "leeds_appendix_3", "york_written_account"]
FORM_KINDS: tuple[str, ...] = get_args(FormKind)
TEMPLATE_DIR = Path(__file__).parent / "templates"
MOVES = ("stage_entered", "escalated")
CHRONOLOGY = ("raised", "stage_entered", "escalated", "bypass", "outcome_recorded", "resolved",
              "timescale_agreed", "timescale_extended", "paused", "resumed", "immediate_risk",
              "role_assigned", "deadline_passed", "confirmed_in_writing", "withdrawn", "closed")


# -- shared rendering helpers -------------------------------------------------------------------
def london(moment: datetime | None, fmt: str = "%a %d %b %Y %H:%M") -> str:
    """A moment shown in London time ('Wed 18 Mar 2026 17:00'), or '' when unknown."""
    return moment.astimezone(LONDON).strftime(fmt) if moment is not None else ""


def uk_date(value: date | datetime | None) -> str:
    """'18/03/2026' (London date for a moment), or '' when unknown."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON).date()
    return value.strftime("%d/%m/%Y")


@lru_cache(maxsize=8)
def environment(extra_dir: Path | None = None) -> Environment:
    """The Jinja2 environment for e-mails and forms; ``extra_dir`` templates win over ours."""
    loaders = [FileSystemLoader(str(extra_dir))] if extra_dir else []
    env = Environment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(str(TEMPLATE_DIR))]),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["london"] = london
    env.filters["uk_date"] = uk_date
    return env


# -- reading the case record --------------------------------------------------------------------
def role_title(protocol: Protocol, case: CaseDetails, stage: Stage, side: str) -> str:
    """The role for one side of a stage, honouring the case's routing variants."""
    for variant in protocol.routing_variants:
        if variant.id in case.variants and stage.id in variant.stages:
            return f"{variant.role} ({side} agency)"
    return stage.raising.title if side == "raising" else stage.receiving.title


def holder(state: CaseState, case: CaseDetails, key: str) -> Person | None:
    """Who holds a role key now (reassignments included); practitioners come from the case."""
    if key in state.holders:
        return state.holders[key]
    if key in ("raising", "receiving"):
        return getattr(case, key)
    return case.holders.get(key)


_PRACTITIONER = ("practitioner", "professional", "worker")
_SENIOR = ("manager", "lead", "head", "director", "chair", "executive", "principal")


def practitioner_role(title: str) -> bool:
    """True for a stage role the practitioners themselves hold ("Practitioner (other agency)")."""
    lowered = title.lower()
    return any(w in lowered for w in _PRACTITIONER) and not any(w in lowered for w in _SENIOR)


def role_holder(protocol: Protocol, case: CaseDetails, state: CaseState, stage: Stage,
                side: str) -> Person | None:
    """Who holds a side of a stage: the person named for it, else the practitioner where the
    role is the practitioner's own; None where nobody is named yet."""
    named = holder(state, case, f"{stage.id}.{side}")
    if named is None and practitioner_role(role_title(protocol, case, stage, side)):
        return holder(state, case, side)
    return named


def person_line(person: Person | None) -> str:
    """'Name, role, agency (email, phone)'; '' for nobody."""
    if person is None:
        return ""
    contact = ", ".join(bit for bit in (person.email, person.phone) if bit)
    return person.label() + (f" ({contact})" if contact else "")


@dataclass(frozen=True)
class StageRow:
    """One stage of the ladder as the case lived it: when, with whom, how, and the result."""

    stage_id: str
    name: str
    status: Literal["visited", "skipped", "future"]
    started: datetime | None = None
    raised_by: str = ""
    contacted: str = ""
    how: str = ""
    outcome: str = ""

    @property
    def visited(self) -> bool:
        return self.status == "visited"


def _outcome_text(outcome: Outcome) -> str:
    verdict = "Resolved" if outcome.resolved else "Not resolved"
    text = f"{verdict} ({uk_date(outcome.at)}, {outcome.by.name}): {outcome.summary}"
    if outcome.agreed_actions:
        text += f" Agreed actions: {outcome.agreed_actions}"
    if outcome.outstanding_matters:
        text += f" Outstanding: {outcome.outstanding_matters}"
    return text


def stage_rows(protocol: Protocol, case: CaseDetails, state: CaseState,
               timeline: list[TimelineEvent], *, include_exceptional: bool = True
               ) -> list[StageRow]:
    """One row per stage of the protocol, filled from the timeline and outcomes."""
    current = protocol.stage_index(state.stage)
    rows = []
    for index, stage in enumerate(protocol.stages):
        if stage.exceptional and not include_exceptional:
            continue
        if stage.id not in state.stages_visited:
            if index > current:
                rows.append(StageRow(stage.id, stage.name, "future"))
            else:
                jump = _jump_over(protocol, index, timeline)
                rows.append(StageRow(stage.id, stage.name, "skipped", outcome="Stage not used: "
                                     + (jump.summary if jump else "the case began later")))
            continue
        rows.append(_visited_row(protocol, case, state, timeline, stage))
    return rows


def _visited_row(protocol: Protocol, case: CaseDetails, state: CaseState,
                 timeline: list[TimelineEvent], stage: Stage) -> StageRow:
    entered = next((e for e in timeline if e.kind in MOVES and e.stage == stage.id), None)
    outcomes = [o for o in state.outcomes if o.stage == stage.id]
    moved = _moved_on_from(stage.id, timeline)
    if outcomes:
        result = " ".join(_outcome_text(o) for o in outcomes)
    elif moved is not None:
        result = moved.summary
    else:
        result = "In progress" if stage.id == state.stage else ""
    # The system e-mails both sides on entering every stage; e-mail receipts are not sent to
    # the activity (they would make every request grow with the case), so a visited stage
    # was contacted by e-mail. How the two sides then spoke is what the outcome recorded; where
    # no outcome says, a stage the protocol holds as a meeting is shown as one.
    mailed = entered is not None
    spoke = list(dict.fromkeys(CONTACT_METHODS[o.contact_method] for o in outcomes
                               if o.contact_method))
    how = [way for way, used in (("E-mail via Professional Resolutions", mailed),
                                 ("Meeting", stage.meeting and not spoke)) if used] + spoke
    return StageRow(
        stage_id=stage.id, name=stage.name, status="visited",
        started=entered.at if entered else None,
        raised_by=_holder_label(protocol, case, state, stage, "raising"),
        contacted=_holder_label(protocol, case, state, stage, "receiving"),
        how="; ".join(how), outcome=result)


def _holder_label(protocol: Protocol, case: CaseDetails, state: CaseState, stage: Stage,
                  side: str) -> str:
    title = role_title(protocol, case, stage, side)
    person = role_holder(protocol, case, state, stage, side)
    return f"{person.label()} — {title}" if person else title


def _moved_on_from(stage_id: str, timeline: list[TimelineEvent]) -> TimelineEvent | None:
    """The event that moved the case out of ``stage_id`` (escalation, bypass or deadline)."""
    entered = False
    for event in timeline:
        if event.kind in MOVES:
            if event.stage == stage_id:
                entered = True
            elif entered:
                return event
    return None


def _jump_over(protocol: Protocol, index: int, timeline: list[TimelineEvent]
               ) -> TimelineEvent | None:
    """The move that went past the stage at ``index`` without entering it."""
    ids = [s.id for s in protocol.stages]
    return next((e for e in timeline if e.kind in MOVES and e.stage in ids
                 and ids.index(e.stage) > index), None)


def steps_taken(rows: list[StageRow]) -> list[str]:
    """'Stage 1 (name), from 02/03/2026: Not resolved (…): summary' for each visited stage."""
    return [f"Stage {r.stage_id} ({r.name})"
            + (f", from {uk_date(r.started)}" if r.started else "")
            + (f": {r.outcome}" if r.outcome else "") for r in rows if r.visited]


def form_title(kind: str, protocol: Protocol) -> str:
    """The form's title as the protocol names it (falls back to a readable kind)."""
    for stage in protocol.stages:
        for form in stage.forms:
            if form.kind == kind:
                return form.title
    return kind.replace("_", " ").capitalize()


def form_filename(kind: str, reference: str) -> str:
    """``swindon-appendix-1-2026-0042.html``: no personal data in the name."""
    return f"{kind.replace('_', '-')}-{reference}.html"


# -- rendering ----------------------------------------------------------------------------------
def render_case_form(kind: str, *, protocol: Protocol, case: CaseDetails, state: CaseState,
                     timeline: list[TimelineEvent], template_dir: Path | None = None) -> str:
    """Render one partnership form as a printable HTML page from the case's record."""
    if kind not in FORM_KINDS:
        raise ValueError(f"unknown form '{kind}'; choose one of: {', '.join(FORM_KINDS)}")
    stage = protocol.stage(state.stage)
    notifier = holder(state, case, f"{stage.id}.raising") or case.raising
    resolution = next((o for o in reversed(state.outcomes) if o.resolved), None)
    agencies = list(dict.fromkeys(
        p.agency for p in [case.raising, case.receiving, *state.holders.values()] if p.agency))
    ladder = stage_rows(protocol, case, state, timeline)
    context = {
        "kind": kind,
        "title": form_title(kind, protocol),
        "protocol": protocol,
        "case": case,
        "child": case.child,
        "state": state,
        "stage": stage,
        "notifier": notifier,
        "representative": notifier,
        "agencies": agencies,
        "rows": stage_rows(protocol, case, state, timeline, include_exceptional=False),
        "ladder": ladder,
        "steps": steps_taken(ladder),
        "resolution": resolution,
        "chronology": [e for e in timeline if e.kind in CHRONOLOGY],
        "notified_on": state.stage_entered_at,
        "person_line": person_line,
        "role_title": lambda s, side: role_title(protocol, case, s, side),
    }
    return environment(template_dir).get_template(f"forms/{kind}.html").render(context)


def render_form(kind: str, req: NotificationRequest, template_dir: Path | None = None) -> str:
    """Render a partnership form from the record carried by a notification request."""
    return render_case_form(kind, protocol=req.protocol, case=req.case, state=req.state,
                            timeline=req.timeline, template_dir=template_dir)
