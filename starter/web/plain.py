"""The case page in plain words: roles by their titles (never keys like ``2.raising``), what
happens when a deadline passes, and what the disagreement is about."""

from __future__ import annotations

from dataclasses import dataclass

from protocols.caserecord import role_title
from protocols.messages import CaseDetails, DeadlineState, Person, TimelineEvent
from protocols.schema import Protocol
from starter import wording

EXPIRY = {"escalate": "the case moves up to the next stage",
          "remind": "a reminder is sent; the case stays at its stage"}
SIDE_TITLES = {"raising": "Practitioner raising the concern",
               "receiving": "Practitioner the disagreement is with"}


def role_label(protocol: Protocol | None, case: CaseDetails | None, key: str) -> str:
    """'Stage 2: Line manager (raising agency)' for '2.raising'; the practitioners by what
    they do; a partnership contact or the business unit by name."""
    if key in SIDE_TITLES:
        return SIDE_TITLES[key]
    if key == "business_unit":
        return "The partnership's business unit"
    stage_id, _, slot = key.rpartition(".")
    if protocol is None or slot not in ("raising", "receiving"):
        return "Another role on the case"
    try:
        stage = protocol.stage(stage_id)  # a ladder stage or a category's first steps
    except KeyError:
        return "Another role on the case"
    title = (role_title(protocol, case, stage, slot, with_side=False) if case is not None
             else stage.role(slot).title)
    if protocol.category_of_stage(stage_id) is not None:
        return f"{stage.name}: {title}"
    return f"Stage {stage.id} ({stage.name}): {title}"


def expiry_text(d: DeadlineState) -> str:
    """What happens when the deadline passes, in words."""
    return EXPIRY.get(d.on_expiry, d.on_expiry)


@dataclass(frozen=True)
class About:
    """What the disagreement is about, as the raiser stated it (label, text)."""

    rows: list[tuple[str, str]]


def about(case: CaseDetails) -> About:
    """The issue, the risk, the nature and the aim, where stated (never the child)."""
    rows = [("The issue", case.issue), ("The risk to the child", case.risk_to_child),
            ("The nature of the disagreement", case.nature), ("What the raiser aims to achieve",
                                                               case.aim)]
    return About([(label, text or "Not stated") for label, text in rows])


def people(protocol: Protocol | None, case: CaseDetails | None,
           holders: dict[str, Person]) -> list[tuple[str, str]]:
    """Everyone named on the case, role title first, in the protocol's stage order."""
    order = {"raising": -2, "receiving": -1}
    if protocol is not None:
        for i, s in enumerate(protocol.stages):
            order[f"{s.id}.raising"] = 2 * i
            order[f"{s.id}.receiving"] = 2 * i + 1
    keys = sorted(holders, key=lambda k: order.get(k, 999))
    return [(role_label(protocol, case, k), _person(holders[k])) for k in keys]


def _person(p: Person) -> str:
    bits = ", ".join(b for b in (p.name, p.role, p.agency) if b) or "Not named"
    return f"{bits} ({p.email})" if p.email else f"{bits} (no email address)"


def event_text(e: TimelineEvent) -> str:
    """A timeline entry's summary without the event ids some carry ('stage_entered: …')."""
    return wording.event_text(e.summary)
