"""The raising form: what it offers for a protocol, and turning what was typed into case data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from infra.links import Grant
from protocols import categories
from protocols.messages import FROM_PEOPLE, CaseDetails
from protocols.naming import Slot, naming_problems, slots_to_name
from protocols.schema import Protocol
from starter.web.forms import FormState, checked, read_date, read_moment, text

URGENCIES = ("standard", "urgent", "immediate-risk")
PERSON_FIELDS = ("name", "role", "agency", "email", "phone")
FIELDS = ("urgency", "reference", "category", "conference_dissent_exhausted", "variants",
          "arose", "issue", "risk_to_child", "nature", "aim",
          *(f"raising.{f}" for f in (*PERSON_FIELDS, "kind")),
          *(f"receiving.{f}" for f in (*PERSON_FIELDS, "kind")),
          "child.name", "child.date_of_birth", "child.address", "child.family")


def urgency_options(p: Protocol) -> list[tuple[str, str, str]]:
    first = p.stages[0]
    urgent = (f"The case starts at stage {p.urgent_entry.stage}: {p.urgent_entry.text} "
              f"({p.urgent_entry.source})." if p.urgent_entry else
              f"The {p.short_name} protocol has no separate start for urgent cases: the case "
              f"starts at stage {first.id}, and you can agree shorter timescales.")
    risk = p.risk_route
    entry = (f" The case starts at stage {risk.entry_stage}." if risk.entry_stage else "")
    return [
        ("standard", "Standard", f"The case starts at stage {first.id}: {first.name}."),
        ("urgent", "Urgent: the situation needs a quick resolution", urgent),
        ("immediate-risk", "Immediate risk of significant harm to the child",
         f"An alarm goes at once to {' → '.join(risk.route)}.{entry} "
         f"({risk.source})"),
    ]


def category_options(p: Protocol) -> list[tuple[str, str, str]]:
    """The protocol's own categories only, with plain labels (protocols.categories)."""
    return categories.options(p)


def kind_options(p: Protocol, side: str) -> list[tuple[str, str, str]]:
    """The kinds of agency one side can say it is, each with what changes for that side only
    (none where the protocol routes no kind differently)."""
    kinds = [v for v in p.side_kinds.values() if v.applies_to_side in (None, side)]
    if not kinds:
        return []
    return [("", "None of these", "The protocol's usual roles apply to this side.")] + [
        (v.applies_to_kind or v.id, v.kind_label or v.when,
         f"For this side only, {v.role} handles stage{'s' if len(v.stages) > 1 else ''} "
         f"{', '.join(v.stages)} ({v.source})") for v in kinds]


HOLDER_FIELDS = ("name", "email", "role")


@dataclass(frozen=True)
class AskedSlot:
    """A role the form asks a person for, with when it is needed."""

    slot: Slot
    hint: str


def holder_slots(p: Protocol, case: CaseDetails | None = None) -> list[AskedSlot]:
    """The roles to name on the form: the starting stage's and the next one's, for a
    standard and an urgent start (each says when it is needed)."""
    case = case or CaseDetails.model_construct(reference="x", raising={}, receiving={},
                                               holders={}, variants=[])
    asked: dict[str, AskedSlot] = {}
    for urgency, how in (("standard", "a standard case"), ("urgent", "an urgent case")):
        if urgency == "urgent" and not p.urgent_entry:
            continue
        for slot in slots_to_name(p, case, urgency):
            need = (f"Needed for {how}: the case starts at stage {slot.stage_id}, so they "
                    "act first." if slot.required else
                    f"Optional for {how}: stage {slot.stage_id} comes next; you can name "
                    "them later.")
            if slot.key in asked:
                old = asked[slot.key]
                slot = old.slot if old.slot.required else slot
                need = f"{old.hint} {need}"
            asked[slot.key] = AskedSlot(slot, need)
    order = {s.id: i for i, s in enumerate(p.stages)}
    return sorted(asked.values(), key=lambda a: (order[a.slot.stage_id], a.slot.key))


def holder_errors(fields: dict[str, str]) -> dict[str, str]:
    """Model error keys for the named holders ('holders.2.raising.email') as the form's
    field names ('holder-2.raising.email': a stage id of digits is not a list index)."""
    return {("holder-" + k.removeprefix("holders.") if k.startswith("holders.") else k): v
            for k, v in fields.items()}


def naming_problems_of(p: Protocol, data: dict[str, Any], urgency: str) -> dict[str, str]:
    """Who must be named (protocols.naming) for what the form gave, where it reads as a case
    at all (else its own errors say why)."""
    try:
        # The reference has its own error; who must be named does not depend on it.
        case = CaseDetails.model_validate({**data, "reference": "0000"}, context=FROM_PEOPLE)
    except ValidationError:
        return {}
    return naming_problems(p, case, urgency)


def defaults(grant: Grant) -> dict[str, Any]:
    """The raiser is usually the raising practitioner: start with their details."""
    return {"urgency": "standard", "category": "other", "raising.name": grant.name,
            "raising.email": grant.email, "raising.role": grant.title,
            "raising.agency": grant.agency}


def case_data(v: dict[str, Any], form: FormState) -> tuple[dict[str, Any], str]:
    """CaseDetails data and the urgency, from the form; problems go into ``form``."""
    urgency = text(v, "urgency")
    if urgency not in URGENCIES:
        form.add("urgency", "Select how urgent the disagreement is")
        urgency = "standard"
    reference = text(v, "reference").strip()
    if not reference:
        form.add("reference", "Enter the case reference, like 2026-0042")
    data: dict[str, Any] = {
        "reference": reference,
        "issue": text(v, "issue"), "risk_to_child": text(v, "risk_to_child"),
        "nature": text(v, "nature"), "aim": text(v, "aim"),
        "category": text(v, "category") or "other",
        "conference_dissent_exhausted": "yes" in checked(v, "conference_dissent_exhausted"),
    }
    for side in ("raising", "receiving"):
        data[side] = {f: text(v, f"{side}.{f}").strip() for f in (*PERSON_FIELDS, "kind")}
    holders: dict[str, dict[str, str]] = {}
    for name in v:
        if name.startswith("holder-") and name.endswith(".name"):
            key = name.removeprefix("holder-").removesuffix(".name")
            person = {f: text(v, f"holder-{key}.{f}").strip() for f in HOLDER_FIELDS}
            if any(person.values()):
                holders[key] = {f: x for f, x in person.items() if x}
    data["holders"] = holders
    born = read_date(v, "child.date_of_birth", form)
    if born is not None and born > datetime.now(UTC).date():
        form.add("child.date_of_birth", "The child's date of birth must be in the past")
    data["child"] = {"name": text(v, "child.name"), "address": text(v, "child.address"),
                     "family": text(v, "child.family"),
                     "date_of_birth": born.isoformat() if born else None}
    arose = read_moment(v, "arose", form)
    if arose is not None:
        if arose > datetime.now(UTC):
            form.add("arose", "When the concern arose must be now or in the past")
        data["arose"] = arose.isoformat()
    return data, urgency


def ordered(form: FormState) -> FormState:
    order = {name: i for i, name in enumerate(FIELDS)}
    form.errors = dict(sorted(form.errors.items(), key=lambda kv: order.get(
        kv[0], 500 if kv[0].startswith("holder-") else 999)))
    return form
