"""What needs a person's eye on a case, for the audit story and the monitoring report.

The lines are the workflow's own (``CaseState.flags``, :func:`workflows.limits.flags`: drifting,
overdue duties such as written confirmation, the Leeds month recorded as a breach, timescales
beyond the document's maximum, a pause), with two things the state knows besides: a stage
deadline that passed and still reminds (overdue), and whoever owns a live deadline but cannot be
told (``CaseState.unreached``). Each line has a kind, for the report's counts. A closed case
keeps the lines that stay true once closed (a recorded breach, an over-maximum timescale).
"""

from __future__ import annotations

from protocols.caserecord import london
from protocols.messages import CaseState, TimelineEvent

# Kinds, in the order the report counts them.
KINDS = ("drifting", "awaiting written confirmation, overdue", "overdue", "breach recorded",
         "longer timescale agreed", "paused", "someone who must act not told")
# How each workflow line begins (workflows.limits.flags), and its kind.
_PREFIXES = (("Paused since", "paused"), ("Overall limit passed", "breach recorded"),
             ("Timescale longer than", "longer timescale agreed"),
             ("Drifting:", "drifting"), ("Overdue since", "overdue"))
CLOSED = ("closed", "withdrawn")


def kind_of(line: str) -> str:
    """The kind of an attention line ("other" for a line this code does not know)."""
    if "awaiting written confirmation" in line:
        return "awaiting written confirmation, overdue"
    if line.startswith("Not told:"):
        return "someone who must act not told"
    return next((kind for prefix, kind in _PREFIXES if line.startswith(prefix)), "other")


def attention(state: CaseState) -> list[str]:
    """The case's attention lines: the workflow's flags, then overdue stage deadlines the flags
    leave out, then who must act and cannot be told (while the case is not closed)."""
    lines = list(state.flags)
    if state.status not in CLOSED:
        for d in state.deadlines:
            if (d.kind == "stage" and d.live and d.status == "expired" and d.due is not None
                    and not any(f"'{d.what}'" in line for line in lines)):
                lines.append(f"Overdue since {london(d.due)}: '{d.what}' (stage {d.stage}, "
                             f"{d.source})")
        lines += [f"Not told: {u}" for u in state.unreached]
    return lines


def closed_unconfirmed(timeline: list[TimelineEvent]) -> str:
    """The decision that closed the case without written confirmation ('' if none)."""
    return next((e.summary for e in timeline if e.kind == "closed_unconfirmed"), "")


def unconfirmed_decision(timeline: list[TimelineEvent]) -> tuple[str, str]:
    """Why the case closed without written confirmation, and who decided (('', '') if not)."""
    e = next((e for e in timeline if e.kind == "closed_unconfirmed"), None)
    if e is None:
        return "", ""
    return e.details.get("reason", e.summary), e.details.get("decided_by", e.actor)
