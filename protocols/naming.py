"""Who must be named when a case is raised, and who acts next but cannot be told.

The raise form and ``resolutions raise`` ask, protocol by protocol, for the people of the
stage a case starts at and of the next one (:func:`slots_to_name`); those of the starting
stage act first and are required, the next stage's may be named later (by ``assign``: a
role nobody holds may be named by anyone of its side). Slots the practitioners hold
themselves, or that carry forward the person named for the same role earlier (``held_by``),
or that a partnership contact holds, are not asked for.

:func:`unreached` reads a case's state: the people who own a live deadline but have no
e-mail address (or nobody is named), so the actor and the business unit can be told.
Pure functions over the protocol and the case's details and state (the workflow may call
them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.caserecord import agency_side, held_by, role_holder, role_title
from protocols.categories import first_steps
from protocols.messages import CaseDetails, CaseState, Person, Urgency
from protocols.schema import CARRIED, Protocol, Stage

SIDE_WORDS = {"raising": "the agency raising the concern", "receiving": "the other agency"}


@dataclass(frozen=True)
class Slot:
    """One role of a stage that somebody must be named for."""

    key: str  # "2.raising"
    stage_id: str
    stage_name: str
    side: str  # whose agency holds it: raising / receiving
    title: str  # "Line manager (raising agency)"
    required: bool

    def describe(self) -> str:
        """'the stage 2 role "Line manager (raising agency)"'."""
        return f"the stage {self.stage_id} role ‘{self.title}’"


@dataclass
class _Named:
    holders: dict[str, Person] = field(default_factory=dict)


def start_stage(protocol: Protocol, urgency: Urgency | str, category: str = "other") -> Stage:
    """The stage a case raised with ``urgency`` starts at (a category's first steps for a
    standard start, :func:`protocols.categories.first_steps`)."""
    steps = first_steps(protocol, category, urgency)
    if steps is not None:
        return steps
    if urgency == "urgent" and protocol.urgent_entry:
        return protocol.stage(protocol.urgent_entry.stage)
    if urgency == "immediate-risk" and protocol.risk_route.entry_stage:
        return protocol.stage(protocol.risk_route.entry_stage)
    return protocol.stages[0]


def slots_to_name(protocol: Protocol, case: CaseDetails, urgency: Urgency | str
                  ) -> list[Slot]:
    """The roles of the starting stage and the next one whose person must be named (the
    starting stage's are required, except for an immediate risk, where nothing delays the
    alarm)."""
    first = start_stage(protocol, urgency, case.category)
    nxt = protocol.next_stage(first.id)
    stages = [first] + ([nxt] if nxt is not None and not nxt.exceptional else [])
    named = _Named()
    out: list[Slot] = []
    for stage in stages:
        for slot in ("raising", "receiving"):
            kind = held_by(protocol, case, stage, slot)
            if kind not in CARRIED or kind == "practitioner":
                continue
            key = f"{stage.id}.{slot}"
            if key not in case.holders and role_holder(protocol, case, named, stage, slot):
                continue  # carried forward from a slot asked for (or named) earlier
            named.holders[key] = Person(name="?")
            out.append(Slot(key=key, stage_id=stage.id, stage_name=stage.name,
                            side=agency_side(stage, slot),
                            title=role_title(protocol, case, stage, slot, with_side=False),
                            required=(stage is first and urgency != "immediate-risk"
                                      and not named_later(protocol, key))))
    return out


def named_later(protocol: Protocol, key: str) -> bool:
    """Whether the document lets the raiser name this role once the case is open (Swindon
    s4 Stage 1: the raiser's own line manager, whom the raising side names): a document
    ``assign`` rule for the role that the raising practitioner may use."""
    return any(rule.action == "assign" and key in rule.of and "raising" in rule.who
               for rule in protocol.permissions)


def naming_problems(protocol: Protocol, case: CaseDetails, urgency: Urgency | str
                    ) -> dict[str, str]:
    """What is missing for the people who must act to be told, by field: each required
    slot's name and address, and at least one address per side."""
    problems: dict[str, str] = {}
    for slot in slots_to_name(protocol, case, urgency):
        person = case.holders.get(slot.key)
        if not slot.required:
            if person is not None and person.name and not person.email:
                problems[f"holders.{slot.key}.email"] = (
                    f"Give an email address for {person.name}, {slot.describe()}, or leave "
                    "both blank to name them later")
            continue
        if person is None or not person.name:
            problems[f"holders.{slot.key}.name"] = (
                f"Give the name of {slot.describe()}: the case starts at stage "
                f"{slot.stage_id}, so they act first")
        if person is None or not person.email:
            problems[f"holders.{slot.key}.email"] = (
                f"Give an email address for {slot.describe()}: their personal link to "
                "the case is sent there")
    for side in ("raising", "receiving"):
        if not _side_has_address(protocol, case, side):
            problems[f"{side}.email"] = (
                f"Give at least one email address for {SIDE_WORDS[side]}: otherwise nobody "
                "there is told about the case")
    return problems


def _side_has_address(protocol: Protocol, case: CaseDetails, side: str) -> bool:
    if getattr(case, side).email:
        return True
    for key, person in case.holders.items():
        stage_id, _, slot = key.rpartition(".")
        try:
            stage = protocol.stage(stage_id)
        except KeyError:
            continue
        if slot in ("raising", "receiving") and agency_side(stage, slot) == side \
                and person.email:
            return True
    return False


def unreached(protocol: Protocol, case: CaseDetails, state: CaseState) -> list[str]:
    """Who owns a live deadline of the case now but cannot be e-mailed, in plain words
    ('Line manager (raising agency) for stage 2: nobody named yet'). A partnership
    contact is never listed (it is reached through its configured address or business
    unit)."""
    return [line for _, line in unreached_roles(protocol, case, state)]


def unreached_roles(protocol: Protocol, case: CaseDetails,
                    state: CaseState) -> list[tuple[str, str]]:
    """:func:`unreached` with each line's role key ('2.raising'), for the CLI's `--role`."""
    if state.status not in ("open", "paused"):
        return []
    lines: list[tuple[str, str]] = []
    stages: list[str] = []
    for d in state.deadlines:
        if not d.live or d.stage is None or not _has_stage(protocol, d.stage):
            continue
        rule_id = d.key.rpartition("/")[2]
        rule = next((r for r in protocol.stage(d.stage).deadlines if r.id == rule_id), None)
        owner = rule.holders_of if rule is not None and rule.holders_of else d.stage
        if owner not in stages:
            stages.append(owner)
    for stage_id in stages:
        if not _has_stage(protocol, stage_id):
            continue
        stage = protocol.stage(stage_id)
        for slot in ("raising", "receiving"):
            if held_by(protocol, case, stage, slot) not in CARRIED:
                continue
            title = role_title(protocol, case, stage, slot, with_side=False)
            person = role_holder(protocol, case, state, stage, slot)
            where = f"{title} for stage {stage.id}"
            key = f"{stage.id}.{slot}"
            if person is None:
                lines.append((key, f"{where}: nobody is named yet"))
            elif not person.email:
                lines.append((key, f"{where} ({person.name or 'not named'}): no email address"))
    return list(dict.fromkeys(lines))


def _has_stage(protocol: Protocol, stage_id: str) -> bool:
    """Whether the protocol has the stage (a ladder stage or a category's first steps)."""
    try:
        protocol.stage(stage_id)
    except KeyError:
        return False
    return True
