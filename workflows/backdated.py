"""A case raised after its concern arose, with deadlines already passed (issue 16): what the
one summary e-mail says and who gets it, from the e-mails held while the workflow caught up.

Pure functions over the case's book: no I/O, clock or holiday look-up (the instants are the
calendar activity's answers, already in history)."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.caserecord import london
from protocols.messages import DeadlineState
from workflows.book import CaseBook

ENTRY_EVENTS = ("case_raised", "stage_entered")


@dataclass
class HeldMail:
    """An e-mail the workflow would have sent while catching up a backdated case."""

    event: str
    to: list[str]
    cc: list[str] = field(default_factory=list)
    attach: list[str] = field(default_factory=list)
    deadline_key: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Summary:
    """The one e-mail that replaces the held ones, and the line the timeline records."""

    to: list[str]
    cc: list[str]
    attach: list[str]
    why: str
    timeline_text: str


def catch_up_summary(book: CaseBook, passed: list[DeadlineState],
                     held: list[HeldMail]) -> Summary:
    """Everyone any held e-mail was for gets the summary once; the forms are the current
    stage's (the last stage entered), as its own entry e-mail would have carried."""
    to = list(dict.fromkeys(k for mail in held for k in mail.to))
    cc = list(dict.fromkeys(k for mail in held for k in mail.cc))
    entries = [mail for mail in held if mail.event in ENTRY_EVENTS]
    last = entries[-1] if entries else None
    stage = book.stage
    arose = book.inp.case.arose
    lines = "; ".join(f"stage {d.stage or '-'}: {d.what}, passed {london(d.due)}"
                      for d in passed if d.due is not None)
    count = f"{len(passed)} deadline{'s' if len(passed) != 1 else ''}"
    text = (f"Raised after the concern arose ({london(arose) if arose else 'earlier'}): "
            f"{count} had already passed, each recorded at the instant it passed ({lines}). "
            f"The case stands at stage {stage.id} ({stage.name}); one summary e-mail was sent "
            f"to each person in place of {len(held)}.")
    why = (f"the concern arose {london(arose) if arose else 'earlier'}, and {count} had "
           f"already passed when the case was raised")
    return Summary(to=to, cc=cc, attach=last.attach if last else [], why=why,
                   timeline_text=text)
