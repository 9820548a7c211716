"""The manager actions of :mod:`protocols.actions` as forms: reading what was typed, and
placing the workflow's refusal.

Each form is at ``…/cases/<case>/<the action's id, spelled with dashes>`` (old names too) and
becomes one workflow update through :func:`starter.cases.act`. A refusal names the message
field it concerns; :meth:`Action.field_for` turns that into the form field it is shown at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocols import actions
from protocols.actions import ActionSpec, Refusal
from protocols.messages import CONTACT_METHODS
from starter.web.forms import LABELS, FormState, checked, form_key, lines, read_moment, text

Builder = Callable[[dict[str, Any], FormState], dict[str, Any]]


@dataclass(frozen=True)
class Action:
    spec: ActionSpec
    button: str
    build: Builder
    fields: tuple[str, ...]  # in page order, for the error summary
    required: tuple[str, ...] = ()  # texts that must not be blank (spaces count as blank)
    warning: bool = False  # a red button: the action cannot be undone

    @property
    def name(self) -> str:
        return self.spec.id

    @property
    def slug(self) -> str:
        return self.spec.spelling

    @property
    def title(self) -> str:
        return self.spec.label

    def field_for(self, refusal: Refusal) -> str | None:
        """The form field a refusal is shown at; None (the top of the form) for a refusal of
        the whole action, or of a field the action's table entry does not name."""
        if refusal.field is None or refusal.field not in self.spec.refusal_fields:
            return None
        return form_key(refusal.field)  # as a model's own errors: "timescale.amount" → "amount"

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
            "contact_method": _contact_method(v, state), "reasons": text(v, "reasons")}


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


def _discussion(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    when = None
    if text(v, "at.day") or text(v, "at.month") or text(v, "at.year"):
        if not text(v, "at.time").strip():
            state.add("at", "Enter the time the discussion took place, like 10:30")
        else:
            when = read_moment(v, "at", state)
    method = text(v, "method")
    if method not in CONTACT_METHODS:
        state.add("method", "Select how you spoke")
    return {"at": when.isoformat() if when else None, "stage": text(v, "stage"),
            "with_name": text(v, "with_name"), "with_title": text(v, "with_title"),
            "with_agency": text(v, "with_agency"), "method": method or None,
            "said": text(v, "said"), "agreed": text(v, "agreed"),
            "approved_by": text(v, "approved_by")}


def _step_done(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    if not text(v, "deadline"):
        state.add("deadline", "Select the step that has been done")
    return {"deadline": text(v, "deadline"), "done_by": lines(v.get("done_by")),
            "note": text(v, "note")}


def _refer(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    decision = text(v, "refer")
    if decision not in ("yes", "no"):
        state.add("refer", "Select whether the case is referred")
    return {"referral": text(v, "referral"), "refer": decision != "no",
            "reason": text(v, "reason"), "decided_by": lines(v.get("decided_by"))}


def _close_unconfirmed(v: dict[str, Any], state: FormState) -> dict[str, Any]:
    return {"reason": text(v, "reason"), "decided_by": lines(v.get("decided_by"))}


def _action(action_id: str, button: str, build: Builder, fields: tuple[str, ...],
            required: tuple[str, ...] = (), **more: Any) -> Action:
    return Action(actions.BY_ID[action_id], button, build, fields, required, **more)


ACTIONS: dict[str, Action] = {a.name: a for a in (
    _action("record_outcome", "Record the outcome", _outcome,
            ("stage", "resolved", "summary", "agreed_actions", "outstanding_matters",
             "learning_points", "policy_issue", "contact_method"), ("summary",)),
    _action("bypass", "Move the case on", _bypass,
            ("to_stage", "reason", "urgent", "agreed_by", "agreement_of"), ("reason",)),
    _action("pause", "Pause the case", _pause, ("reason",), ("reason",)),
    _action("resume", "Resume the case", _resume, ("note",)),
    _action("agree_timescale", "Record the agreed timescale", _agree,
            ("stage", "deadline", "kind", "amount", "until", "reason", "agreed_by")),
    _action("assign", "Hand over the role", _assign,
            ("role", "person.name", "person.role", "person.agency", "person.email",
             "person.phone", "reason")),
    _action("confirm_in_writing", "Record the written confirmation", _confirm,
            ("duty", "summary")),
    _action("report_immediate_risk", "Send the immediate risk alarm", _risk, ("description",),
            ("description",), warning=True),
    _action("withdraw", "Withdraw and close the case", _withdraw, ("reason",), ("reason",),
            warning=True),
    _action("record_discussion", "Record the discussion", _discussion,
            ("at", "stage", "with_name", "with_title", "with_agency", "method", "said",
             "agreed", "approved_by"), ("with_name", "said")),
    _action("mark_step_done", "Record the step as done", _step_done,
            ("deadline", "done_by", "note")),
    _action("refer", "Record the decision", _refer,
            ("referral", "refer", "reason", "decided_by"), ("reason",)),
    _action("close_unconfirmed", "Close the case without written confirmation",
            _close_unconfirmed, ("reason", "decided_by"), ("reason",)),
)}
assert set(ACTIONS) == {a.id for a in actions.MANAGER_ACTIONS}, "a form per manager action"


def by_slug(slug: str) -> Action | None:
    """The form a URL names: the action's id with dashes, or one of its old names."""
    spec = actions.find(slug) if "_" not in slug else None
    return ACTIONS.get(spec.id) if spec is not None else None


def ordered(state: FormState, action: Action) -> FormState:
    """Errors in the order the fields appear on the page (the error summary's order)."""
    order = {name: i for i, name in enumerate(action.fields)}
    state.errors = dict(sorted(state.errors.items(), key=lambda kv: order.get(kv[0], 99)))
    return state
