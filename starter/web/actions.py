"""The nine case actions as forms: reading what was typed, and placing the workflow's rejection.

Each form becomes one workflow update through :func:`starter.cases.act`. A validator's
rejection is a sentence; :func:`rejection_field` decides which field it concerns so the page
can show it there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocols.messages import CONTACT_METHODS
from starter.web.forms import LABELS, FormState, checked, lines, read_moment, text

Builder = Callable[[dict[str, Any], FormState], dict[str, Any]]
Placer = Callable[[str, dict[str, Any]], str | None]


@dataclass(frozen=True)
class Action:
    name: str  # the update name in starter.cases.ACTIONS
    slug: str  # the URL part
    title: str
    button: str
    build: Builder
    place: Placer
    fields: tuple[str, ...]  # in page order, for the error summary
    required: tuple[str, ...] = ()  # texts that must not be blank (spaces count as blank)

    def read(self, values: dict[str, Any], state: FormState) -> dict[str, Any]:
        """The update's data (without ``by``); problems go into ``state``."""
        data = self.build(values, state)
        for name in self.required:
            if not text(values, name).strip():
                state.add(name, f"Enter {LABELS[name]}")
        return data


def _outcome(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    if not text(v, "stage"):
        state.add("stage", "Select the stage this outcome is for")
    resolved = text(v, "resolved")
    if resolved not in ("yes", "no"):
        state.add("resolved", "Select whether the disagreement was resolved at this stage")
    return {"stage": text(v, "stage"), "resolved": resolved == "yes",
            "summary": text(v, "summary"), "agreed_actions": text(v, "agreed_actions"),
            "outstanding_matters": text(v, "outstanding_matters"),
            "learning_points": lines(v.get("learning_points")),
            "policy_issue": text(v, "policy_issue") == "yes",
            "contact_method": _contact_method(v, state)}


def _contact_method(v: dict[str, Any], state: FormState) -> str | None:
    chosen = text(v, "contact_method")
    if chosen and chosen not in CONTACT_METHODS:
        state.add("contact_method", "Select how the two sides spoke, from the list")
    return chosen or None


def _bypass(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    if not text(v, "to_stage"):
        state.add("to_stage", "Select the stage to move to")
    return {"to_stage": text(v, "to_stage"), "reason": text(v, "reason"),
            "urgent": text(v, "urgent") == "yes", "agreed_by": lines(v.get("agreed_by")),
            "agreement_of": checked(v, "agreement_of")}


def _pause(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    return {"reason": text(v, "reason")}


def _resume(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    return {"note": text(v, "note")}


def _agree(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    kind = text(v, "kind")
    timescale: dict[str, Any] = {"kind": kind}
    if kind not in ("working_days", "hours", "same_working_day", "until"):
        state.add("kind", "Select the kind of timescale agreed")
    elif kind in ("working_days", "hours"):
        raw = text(v, "amount").strip()
        unit = "working days" if kind == "working_days" else "hours"
        if not raw:
            state.add("amount", f"Enter the number of {unit} agreed")
        elif not raw.isdigit() or len(raw) > 4:
            state.add("amount", f"The number of {unit} must be a whole number, like 5")
        else:
            timescale["amount"] = int(raw)
    elif kind == "until":
        until = read_moment(v, "until", state)
        if until is None and "until" not in state.errors:
            state.add("until", "Enter the agreed date")
        timescale["until"] = until.isoformat() if until else None
    return {"stage": text(v, "stage"), "deadline": text(v, "deadline"), "timescale": timescale,
            "reason": text(v, "reason"), "agreed_by": lines(v.get("agreed_by"))}


def _assign(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    if not text(v, "role"):
        state.add("role", "Select the role being handed over")
    person = {f: text(v, f"person.{f}") for f in ("name", "role", "agency", "email", "phone")}
    if not person["name"].strip():
        state.add("person.name", "Enter the name of the person taking over the role")
    return {"role": text(v, "role"), "person": person, "reason": text(v, "reason")}


def _confirm(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    return {"duty": text(v, "duty"), "summary": text(v, "summary")}


def _risk(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    return {"description": text(v, "description")}


def _withdraw(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    return {"reason": text(v, "reason")}


def _by_words(*rules: tuple[str, str | None]) -> Placer:
    """Place a rejection by the first phrase it contains; None = about the whole form."""

    def place(message: str, values: dict[str, Any]) -> str | None:
        lowered = message.lower()
        for phrase, name in rules:
            if phrase in lowered:
                return name
        return None

    return place


def _place_agree(message: str, values: dict[str, Any]) -> str | None:
    lowered = message.lower()
    if "at most" in lowered or "maximum" in lowered:
        return "until" if text(values, "kind") == "until" else "amount"
    return _by_words(("no timescale to agree", None), ("current stage only", "stage"),
                     ("no stage", "stage"), ("how many", "amount"), ("agreed date", "until"),
                     ("time zone", "until"), ("in the past", "until"),
                     ("extension: say why", "reason"), ("who agreed", "agreed_by"))(
        message, values)


ACTIONS: dict[str, Action] = {a.slug: a for a in (
    Action("record_outcome", "outcome", "Record the outcome of a stage", "Record the outcome",
           _outcome, _by_words(("paused", None), ("not the current stage", "stage"),
                               ("no stage", "stage")),
           ("stage", "resolved", "summary", "agreed_actions", "outstanding_matters",
            "learning_points", "policy_issue", "contact_method"), ("summary",)),
    Action("bypass", "bypass", "Move the case on to a later stage (bypass)", "Move the case on",
           _bypass, _by_words(("does not allow", None), ("paused", None),
                              ("not after the current stage", "to_stage"),
                              ("no stage", "to_stage"), ("urgent", "urgent"),
                              ("agreement of", "agreed_by")),
           ("to_stage", "reason", "urgent", "agreed_by", "agreement_of"), ("reason",)),
    Action("pause", "pause", "Pause the case", "Pause the case", _pause,
           _by_words(), ("reason",), ("reason",)),
    Action("resume", "resume", "Resume the case", "Resume the case", _resume,
           _by_words(), ("note",)),
    Action("agree_timescale", "timescale", "Agree or extend a timescale",
           "Record the agreed timescale", _agree, _place_agree,
           ("stage", "deadline", "kind", "amount", "until", "reason", "agreed_by")),
    Action("assign", "hand-over", "Hand a role to someone else", "Hand over the role",
           _assign, _by_words(("is not a role", "role"), ("name of the person", "person.name")),
           ("role", "person.name", "person.role", "person.agency", "person.email",
            "person.phone", "reason")),
    Action("confirm_in_writing", "confirm", "Confirm the outcome in writing",
           "Record the written confirmation", _confirm,
           _by_words(("is not awaited", "duty")), ("duty", "summary")),
    Action("report_immediate_risk", "immediate-risk", "Report immediate risk to the child",
           "Send the immediate risk alarm", _risk, _by_words(), ("description",),
           ("description",)),
    Action("withdraw", "withdraw", "Withdraw the disagreement", "Withdraw and close the case",
           _withdraw, _by_words(), ("reason",), ("reason",)),
)}


def ordered(state: FormState, action: Action) -> FormState:
    """Errors in the order the fields appear on the page (the error summary's order)."""
    order = {name: i for i, name in enumerate(action.fields)}
    state.errors = dict(sorted(state.errors.items(), key=lambda kv: order.get(kv[0], 99)))
    return state
