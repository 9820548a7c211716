"""The one table of actions people take on a case.

Each action has one id. Everything else is derived from it: the workflow's update (named by the
id) and signal (``<id>_signal``), the ``resolutions`` command (``agree_timescale`` →
``agree-timescale``) and the web form's URL (``…/cases/<case>/agree-timescale``). Names an
action had before it had one id (``aliases``) keep working wherever a name is given: as a
command, in a URL, as an update or a signal name.

A refused action carries a :class:`Refusal`: the sentence a manager reads, and the field of the
message it concerns (one of the action's ``refusal_fields``), so a form can show it there.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from protocols.messages import (
    AgreeTimescale,
    Assign,
    Bypass,
    CloseUnconfirmed,
    ConfirmInWriting,
    LegalHold,
    MarkStepDone,
    Message,
    Pause,
    RecordDiscussion,
    RecordOutcome,
    Refer,
    ReportImmediateRisk,
    Resume,
    Withdraw,
)


class Refusal(Message):
    """Why an action was refused; ``field`` is a dotted path into the action's message (e.g.
    ``timescale.until``), or None when the refusal concerns the action as a whole."""

    message: str
    field: str | None = None


def spelling(name: str) -> str:
    """How a name is written on the command line and in a URL: ``agree_timescale`` →
    ``agree-timescale``."""
    return name.replace("_", "-")


def signal_name(name: str) -> str:
    return f"{name}_signal"


@dataclass(frozen=True)
class ActionSpec:
    id: str
    model: type[BaseModel]
    label: str  # what a person is doing, e.g. "Record the outcome of a stage"
    refusal_fields: tuple[str, ...] = ()  # fields of the message a refusal can concern
    aliases: tuple[str, ...] = ()  # older names, still accepted everywhere
    manager: bool = True  # a manager's action: a command, a web form and a signal too

    @property
    def names(self) -> tuple[str, ...]:
        """The id and every alias: each is an update name, and ``<name>_signal`` a signal."""
        return (self.id, *self.aliases)

    @property
    def spelling(self) -> str:
        return spelling(self.id)

    @property
    def alias_spellings(self) -> tuple[str, ...]:
        return tuple(spelling(a) for a in self.aliases)

    @property
    def signal_names(self) -> tuple[str, ...]:
        return tuple(signal_name(n) for n in self.names) if self.manager else ()


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("record_outcome", RecordOutcome, "Record the outcome of a stage",
               ("stage",), aliases=("outcome",)),
    ActionSpec("bypass", Bypass, "Move the case on to a later stage (bypass)",
               ("to_stage", "urgent", "agreed_by")),
    ActionSpec("pause", Pause, "Pause the case"),
    ActionSpec("resume", Resume, "Resume the case"),
    ActionSpec("agree_timescale", AgreeTimescale, "Agree or extend a timescale",
               ("stage", "timescale.amount", "timescale.until", "reason", "agreed_by"),
               aliases=("timescale",)),
    ActionSpec("assign", Assign, "Hand a role to someone else", ("role", "person.name"),
               aliases=("hand_over",)),
    ActionSpec("confirm_in_writing", ConfirmInWriting, "Confirm the outcome in writing",
               ("duty",), aliases=("confirm",)),
    ActionSpec("report_immediate_risk", ReportImmediateRisk,
               "Report immediate risk to the child", aliases=("risk", "immediate_risk")),
    ActionSpec("withdraw", Withdraw, "Withdraw the disagreement"),
    ActionSpec("record_discussion", RecordDiscussion, "Record a discussion or contact",
               ("at", "stage", "with_name", "method", "said"), aliases=("discussion",)),
    ActionSpec("mark_step_done", MarkStepDone, "Mark a step of the stage as done",
               ("deadline",), aliases=("step_done",)),
    ActionSpec("refer", Refer, "Decide on a referral the protocol reserves",
               ("referral", "reason", "decided_by")),
    ActionSpec("close_unconfirmed", CloseUnconfirmed,
               "Close without written confirmation", ("reason", "decided_by")),
    # An administrator's, not a manager's: `resolutions hold`, an update only.
    ActionSpec("set_legal_hold", LegalHold, "Place or lift a legal hold", manager=False),
)

BY_ID: dict[str, ActionSpec] = {a.id: a for a in ACTIONS}
MANAGER_ACTIONS: tuple[ActionSpec, ...] = tuple(a for a in ACTIONS if a.manager)


def _by_name() -> dict[str, ActionSpec]:
    found: dict[str, ActionSpec] = {}
    for action in ACTIONS:
        for name in action.names:
            assert name not in found, f"action name {name!r} is used twice"
            found[name] = action
    return found


BY_NAME: dict[str, ActionSpec] = _by_name()


def find(name: str) -> ActionSpec | None:
    """The action a name means: its id or an alias, written with ``_`` or ``-``."""
    return BY_NAME.get(name.replace("-", "_"))
