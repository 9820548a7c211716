"""Reading a case's record: who holds which role, the stages as the case lived them, and
moments in London time.

Pure functions over the protocol and the case's details, state and timeline, shared by the
e-mails, the partnership forms, the agency log, the web pages and the workflow's own text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from typing import Protocol as Shape

from protocols.calendar import LONDON
from protocols.messages import (
    CONTACT_METHODS,
    CaseDetails,
    CaseState,
    DeadlineState,
    Discussion,
    Outcome,
    Person,
    TimelineEvent,
)
from protocols.schema import CARRIED, HeldBy, Protocol, RoutingVariant, Stage

MOVES = ("stage_entered", "escalated")
MOMENT = "%a %d %b %Y %H:%M"  # 'Wed 18 Mar 2026 17:00'
NOT_RECORDED = "not recorded"


# -- moments -------------------------------------------------------------------------------
def london(moment: datetime | None, fmt: str = MOMENT, *, missing: str = "") -> str:
    """A moment shown in London time ('Wed 18 Mar 2026 17:00'); ``missing`` when unknown."""
    return moment.astimezone(LONDON).strftime(fmt) if moment is not None else missing


def uk_date(value: date | datetime | None) -> str:
    """'18/03/2026' (London date for a moment), or '' when unknown."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON).date()
    return value.strftime("%d/%m/%Y")


def due_text(d: DeadlineState) -> str:
    """'by Wed 18 Mar 2026 17:00 (London time)', or what stands in for a fixed time."""
    if d.due is not None:
        return f"by {london(d.due)} (London time)"
    if d.status == "awaiting_agreement":
        return "timescale to be agreed between you and recorded"
    if d.timescale_kind == "asap":
        return "as soon as possible"
    return "no fixed time: act without delay"


# -- roles ---------------------------------------------------------------------------------
def side_kind(case: CaseDetails, side: str) -> str:
    """The kind of agency one side of the case said it is ('' where none was said)."""
    party = case.raising if side == "raising" else case.receiving
    return getattr(party, "kind", "")


def _variant(protocol: Protocol, case: CaseDetails, stage: Stage, slot: str
             ) -> RoutingVariant | None:
    """The routing variant that changes one slot of a stage: one whose kind of agency is the
    kind the slot's side said it is. A variant frozen before variants named their kind
    applies where the case listed it by id, to both sides, as it did then."""
    side = stage.role(slot).agency_side(slot)
    kind = side_kind(case, side)
    for v in protocol.routing_variants:
        if stage.id not in v.stages:
            continue
        if v.applies_to_kind is None:
            if v.id in case.variants:
                return v
        elif kind and kind == v.applies_to_kind and v.applies_to_side in (None, side):
            return v
    return None


def role_title(protocol: Protocol, case: CaseDetails, stage: Stage, side: str, *,
               with_side: bool = True) -> str:
    """The role for one slot of a stage, honouring the routing variant of that side's kind of
    agency (a variant's role is followed by '(raising agency)' unless ``with_side`` is off)."""
    variant = _variant(protocol, case, stage, side)
    if variant is not None:
        agency = stage.role(side).agency_side(side)
        return f"{variant.role} ({agency} agency)" if with_side else variant.role
    return stage.role(side).title


def held_by(protocol: Protocol, case: CaseDetails, stage: Stage, side: str) -> HeldBy:
    """Who holds one slot of a stage in this case (the practitioners, a manager, …)."""
    variant = _variant(protocol, case, stage, side)
    if variant is not None:
        return variant.holder_kind
    return stage.role(side).holder_kind


def key_held_by(protocol: Protocol, key: str, case: CaseDetails | None = None
                ) -> HeldBy | None:
    """Who holds the stage role a key names ("2.raising"), by the protocol and, given the
    case, its sides' kinds of agency; None for a key that names no stage role."""
    stage_id, _, slot = key.rpartition(".")
    if slot not in ("raising", "receiving") or not stage_id:
        return None
    try:
        stage = protocol.stage(stage_id)
    except KeyError:
        return None
    return held_by(protocol, case, stage, slot) if case else stage.role(slot).holder_kind


def agency_side(stage: Stage, slot: str) -> str:
    """Whose agency holds a slot of a stage (Swindon stage 1: both are the raiser's)."""
    return stage.role(slot).agency_side(slot)


class HoldsRoles(Shape):
    """Anything that knows who holds which role now: a case's state, or its book."""

    holders: dict[str, Person]


def holder(state: HoldsRoles, case: CaseDetails, key: str) -> Person | None:
    """Who holds a role key now (reassignments included); practitioners come from the case."""
    if key in state.holders:
        return state.holders[key]
    if key in ("raising", "receiving"):
        return getattr(case, key).person()
    return case.holders.get(key)


def carried_from(protocol: Protocol, case: CaseDetails, state: HoldsRoles, stage: Stage,
                 slot: str) -> tuple[str, Person] | None:
    """The person named for the same role at an earlier stage, and that role's key: the
    nearest earlier slot on the same side held by the same kind of person (``held_by``; the
    agencies' own people only). Protocols frozen before carrying forward carry nothing."""
    kind = held_by(protocol, case, stage, slot)
    if kind not in CARRIED:
        return None
    side = agency_side(stage, slot)
    for earlier in reversed(protocol.earlier_stages(stage.id)):
        for other in ("raising", "receiving"):
            if (agency_side(earlier, other) == side
                    and held_by(protocol, case, earlier, other) == kind):
                key = f"{earlier.id}.{other}"
                person = holder(state, case, key)
                if person is not None:
                    return key, person
    return None


def role_holder(protocol: Protocol, case: CaseDetails, state: HoldsRoles, stage: Stage,
                side: str) -> Person | None:
    """Who holds a slot of a stage: the person named for it, else whoever was named for the
    same role at an earlier stage (:func:`carried_from`), else the practitioner where the
    practitioners hold the role themselves; None where nobody is named yet."""
    named = holder(state, case, f"{stage.id}.{side}")
    if named is not None:
        return named
    carried = (carried_from(protocol, case, state, stage, side)
               if protocol.holders_carried_forward else None)
    if carried is not None:
        return carried[1]
    if held_by(protocol, case, stage, side) == "practitioner":
        return holder(state, case, agency_side(stage, side))
    return None


def person_line(person: Person | None) -> str:
    """'Name, role, agency (email, phone)'; '' for nobody."""
    if person is None:
        return ""
    contact = ", ".join(bit for bit in (person.email, person.phone) if bit)
    return person.label() + (f" ({contact})" if contact else "")


# -- the stages as the case lived them --------------------------------------------------------
@dataclass(frozen=True)
class StageRow:
    """One stage of the ladder as the case lived it: when it began, the discussions and
    contacts recorded at it (when, with whom, how), and the result."""

    stage_id: str
    name: str
    status: Literal["visited", "skipped", "future"]
    started: datetime | None = None
    raised_by: str = ""
    contacted: str = ""
    how: str = ""
    outcome: str = ""
    contact_dates: str = ""
    discussions: tuple[Discussion, ...] = ()

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


def discussion_text(d: Discussion) -> str:
    """'05/03/2030 10:30, telephone, with Tom Reed, Social Worker: said. Agreed: …'."""
    text = (f"{london(d.at, '%d/%m/%Y %H:%M')}, {CONTACT_METHODS[d.method].lower()}, with "
            f"{d.with_whom()}: {d.said}")
    if d.agreed:
        text += f" Agreed: {d.agreed}"
    text += f" (recorded by {d.by.name}" + (f", approved by {d.approved_by})" if d.approved_by
                                              else ")")
    return text


def stage_rows(protocol: Protocol, case: CaseDetails, state: CaseState,
               timeline: list[TimelineEvent], *, include_exceptional: bool = True
               ) -> list[StageRow]:
    """One row per stage of the protocol, filled from the timeline, outcomes and the
    discussions recorded."""
    current = protocol.stage_index(state.stage)
    rows = []
    category = protocol.category(case.category)  # its first steps, where the case took them
    if category and category.first_steps and category.first_steps.id in state.stages_visited:
        rows.append(_visited_row(protocol, case, state, timeline, category.first_steps))
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
    # When, with whom and how contact was made are what people recorded: the discussions
    # recorded at the stage, and how its outcome says the two sides spoke. Nothing is
    # inferred (not the stage's start, nor the system's own e-mails): unrecorded is said so.
    talks = tuple(sorted((d for d in state.discussions if d.stage == stage.id),
                         key=lambda d: d.at))
    ways = [CONTACT_METHODS[d.method] for d in talks]
    ways += [CONTACT_METHODS[o.contact_method] for o in outcomes if o.contact_method]
    dates = list(dict.fromkeys(uk_date(d.at) for d in talks))
    contacted = (list(dict.fromkeys(d.with_whom() for d in talks)) if talks
                 else [_holder_label(protocol, case, state, stage, "receiving")])
    return StageRow(
        stage_id=stage.id, name=stage.name, status="visited",
        started=entered.at if entered else None,
        raised_by=_holder_label(protocol, case, state, stage, "raising"),
        contacted="; ".join(contacted),
        how="; ".join(dict.fromkeys(ways)) or NOT_RECORDED, outcome=result,
        contact_dates="; ".join(dates) or NOT_RECORDED, discussions=talks)


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
    """'Stage 1 (name), from 02/03/2026: Not resolved (…): summary' for each visited stage,
    each followed by the discussions and contacts recorded at it."""
    steps = []
    for r in rows:
        if not r.visited:
            continue
        steps.append(f"Stage {r.stage_id} ({r.name})"
                     + (f", from {uk_date(r.started)}" if r.started else "")
                     + (f": {r.outcome}" if r.outcome else ""))
        steps += [f"Stage {r.stage_id} discussion: {discussion_text(d)}" for d in r.discussions]
    return steps


# -- forms, by name ------------------------------------------------------------------------
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
