"""The choices a case-page form offers and the CLI accepts, for the case where it stands:
the stage whose outcome can be recorded now, the outcomes the protocol allows there (with what
each leads to), the stages a bypass may move to, and the roles that exist on the case. The web
offers only these; the CLI refuses anything else with a message listing them; the workflow's
validators still have the last word.

Pure functions over the protocol, the case's details and its state.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.caserecord import held_by, role_title
from protocols.messages import CaseDetails, CaseState
from protocols.schema import Protocol

OPEN = ("open",)


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    hint: str = ""


def outcome_stages(protocol: Protocol, state: CaseState) -> list[Choice]:
    """An outcome can be recorded for the current stage only, while the case is open."""
    if state.status not in OPEN or not state.stages_visited:
        return []
    stage = protocol.stage(state.stage)
    return [Choice(stage.id, f"Stage {stage.id}: {stage.name}", "The current stage")]


def outcomes(protocol: Protocol, state: CaseState) -> list[Choice]:
    """Resolved or not, each with what the protocol does next at the current stage."""
    if not outcome_stages(protocol, state):
        return []
    here = state.stage
    offered = protocol.referral_on_not_resolved(here)
    nxt = protocol.next_stage(here)
    if offered is not None:
        then = f"The protocol then offers a decision: {offered.label} ({offered.source})."
    elif nxt is None:
        then = "This is the final stage: the case is closed as not resolved."
    else:
        then = f"The case moves to stage {nxt.id} ({nxt.name})."
    return [Choice("yes", "Yes, it was resolved", "The protocol's duties after resolution "
                   "start, such as confirming the outcome in writing."),
            Choice("no", "No, it was not resolved", then)]


def bypass_stages(protocol: Protocol, state: CaseState) -> list[Choice]:
    """The later stages, where the protocol allows bypassing and the case is open."""
    if state.status not in OPEN or not protocol.bypass.allowed or not state.stages_visited:
        return []
    here = protocol.stage_index(state.stage)
    return [Choice(s.id, f"Stage {s.id}: {s.name}", s.summary)
            for s in protocol.stages[here + 1:]]


def roles(protocol: Protocol, case: CaseDetails | None, state: CaseState) -> list[Choice]:
    """The roles a person can be named for: the practitioners, and the roles of the current
    and later stages a person holds (never a partnership's own contact); earlier stages are
    over."""
    found = [Choice("raising", "Practitioner raising the concern"),
             Choice("receiving", "Practitioner the disagreement is with")]
    here = protocol.stage_index(state.stage) if state.stages_visited else 0
    # At a category's first steps (stage_index -1, before stage 1): those steps' roles, then
    # every stage of the ladder.
    first = [protocol.stage(state.stage)] if here < 0 else []
    for stage in [*first, *protocol.stages[max(here, 0):]]:
        for slot in ("raising", "receiving"):
            if case is not None and held_by(protocol, case, stage, slot) == "partnership":
                continue
            title = (role_title(protocol, case, stage, slot) if case is not None
                     else stage.role(slot).title)
            found.append(Choice(f"{stage.id}.{slot}",
                                f"Stage {stage.id} ({stage.name}): {title}"))
    return found


def _not_current(given: str, protocol: Protocol, state: CaseState) -> str:
    stage = protocol.stage(state.stage)
    return (f"Stage {given} is not the current stage: the case is at stage {stage.id} "
            f"({stage.name}).")


def _not_current_outcome(given: str, protocol: Protocol, state: CaseState) -> str:
    """As the workflow's own refusal says it (workflows.validation.check_outcome)."""
    return (f"{_not_current(given, protocol, state)} Record the outcome for stage "
            f"{state.stage}.")


# The choices an action's fields must come from: (field, the first sentence of a refusal,
# command-line flag, finder). Stage choices apply while the case is open: otherwise the
# workflow refuses the whole action and says why (paused, resolved, closed).
FIELDS = {
    "record_outcome": [("stage", _not_current_outcome, "--stage",
                        lambda p, c, st: outcome_stages(p, st))],
    "agree_timescale": [("stage", _not_current, "--stage",
                         lambda p, c, st: outcome_stages(p, st))],
    "bypass": [("to_stage", lambda g, p, st: f"Stage {g} is not a stage this case can move "
                f"to now.", "--to-stage", lambda p, c, st: bypass_stages(p, st))],
    "assign": [("role", lambda g, p, st: f"{g!r} is not a role in this case.", "--role",
                roles)],
}
NEEDS_OPEN = ("stage", "to_stage")


def refusal(head: str, given: str, found: list[Choice], flag: str = "") -> str | None:
    """None when ``given`` is one of ``found``; else ``head`` and the valid ones (``flag``:
    how to give one on the command line; none on a web form)."""
    if any(c.value == given for c in found) or not found:
        return None
    if len(found) == 1 and found[0].value in head:
        return head  # it names the one valid choice already
    if flag:
        listed = "; ".join(f"{flag} {c.value} ({c.label})" for c in found)
    else:
        listed = "; ".join(c.label for c in found)
    return f"{head} Choose from: {listed}."


def wrong(action_id: str, data: dict, protocol: Protocol, case: CaseDetails | None,
          state: CaseState, *, cli: bool = False) -> dict[str, str]:
    """Field → message for each field of ``data`` whose value is not a valid choice now."""
    problems: dict[str, str] = {}
    for name, head, flag, finder in FIELDS.get(action_id, []):
        given = str(data.get(name) or "")
        if not given or (name in NEEDS_OPEN and state.status not in OPEN):
            continue  # the form's own "Select …", or the workflow's refusal of the whole
        message = refusal(head(given, protocol, state), given, finder(protocol, case, state),
                          flag if cli else "")
        if message:
            problems[name] = message
    return problems
