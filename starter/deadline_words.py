"""A case's deadlines in plain words for the command line (issue 16): numbered as `status`
shows them, what happens when each passes, never keys; and the deadline a person names by
that number, its plain name or its key (`mark-step-done --deadline`)."""

from __future__ import annotations

from typing import Any

from protocols.caserecord import london
from protocols.messages import CaseState, DeadlineState

EXPIRY = {"escalate": "the case moves up to the next stage",
          "remind": "a reminder is sent; the case stays at its stage"}
LIVE = ("pending", "awaiting_agreement", "expired")


def listed(state: CaseState | Any) -> list[DeadlineState]:
    """The live deadlines, in the order (and so with the numbers) `status` shows them."""
    return [d for d in state.deadlines if d.status in LIVE]


def lines(state: CaseState | Any) -> list[str]:
    """'1. Conversation between the practitioners: due Wed 4 Mar 2026 17:00 (London time)',
    then who and what happens when it passes, with the rule's source."""
    out = []
    for n, d in enumerate(listed(state), 1):
        due = (f"due {london(d.due)}" if d.due else
               "to be agreed" if d.status == "awaiting_agreement" else d.timescale)
        overdue = " (OVERDUE)" if d.status == "expired" else ""
        expiry = getattr(d, "on_expiry", "")  # an update's brief carries none
        passing = f"when it passes, {EXPIRY.get(expiry, expiry)} " if expiry else ""
        out.append(f"{n}. {d.what}: {due}{overdue}")
        out.append(f"     by {d.who}; {passing}({d.source})")
    return out


def _plain(text: str) -> str:
    return " ".join(text.lower().split())


def find(state: CaseState, given: str, among: list[DeadlineState] | None = None
         ) -> DeadlineState | None:
    """The deadline ``given`` names: its number in `status`, its plain name (what it is, in
    any letter case), or its key or rule id; None if none does."""
    shown = listed(state)
    text = given.strip()
    if text.isdigit() and 1 <= int(text) <= len(shown):
        found = shown[int(text) - 1]
        return found if among is None or found in among else None
    pool = shown if among is None else among
    for d in pool:
        if text in (d.key, d.rule) or _plain(text) == _plain(d.what):
            return d
    return None


def step_key(state: CaseState, given: str) -> str:
    """The key of the step ``given`` names, for `mark-step-done`. A number that names no step
    that can be marked done is refused here with the steps that can (by number and plain
    name); anything else unknown goes to the workflow as given, whose refusal says why (it
    escalates, it is a duty, it is no longer open, there is none)."""
    markable = [d for d in listed(state) if d.kind == "stage" and d.on_expiry != "escalate"]
    found = find(state, given, markable)
    if found is not None:
        return found.key
    if not given.strip().isdigit():
        return given.strip()
    numbers = {d.key: n for n, d in enumerate(listed(state), 1)}
    steps = ("; ".join(f"{numbers[d.key]} ({d.what})" for d in markable)
             or "none on this case now")
    raise ValueError(f"No step numbered {given.strip()} can be marked done on case "
                     f"{state.workflow_id}. Steps that can be marked done, by the number "
                     f"`status` shows: {steps}.")
