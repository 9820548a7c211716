"""Limits as the documents set them, and what needs a person's eye (issue 15).

Pure functions over the case book (no I/O, no clock: ``now`` is passed in), used by the
workflow and by the snapshot every reader sees. A limit says what passing it does: escalate,
remind, or (Leeds' month, "where possible") a breach on the record. What keeps reminding after
the protocol's own nudges shows as drifting, so nothing drifts in silence.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from protocols.caserecord import london
from protocols.messages import DeadlineState, Discussion
from protocols.schema import DeadlineRule, PolicyIssueRoute, Timescale

if TYPE_CHECKING:
    from workflows.book import CaseBook


def policy_issues_taken(book: CaseBook, route: PolicyIssueRoute) -> bool:
    """Whether the current stage's discussion can raise significant policy issues (York: the
    senior managers' discussion, stage 3, onward); any stage where the route says nothing."""
    if route.taken_from is None:
        return True
    index = book.protocol.stage_index
    return index(book.stage_id) >= index(route.taken_from)


def met_by_discussion(book: CaseBook, record: Discussion) -> list[DeadlineState]:
    """The live deadlines of the discussion's stage that a contact recorded in time meets
    (Swindon's "When": the discussion or contact "should take place" within N working days;
    one recorded after the date is on the record, and the deadline stays passed)."""
    out = []
    for d in book.stage_deadlines(record.stage):
        rule = rule_of(book, d)
        if (rule is not None and rule.met_by_discussion and d.live
                and (d.due is None or record.at <= d.due)):
            out.append(d)
    return out


def learning_carried(book: CaseBook) -> list[str]:
    """Every learning point recorded at any stage, in order, each once: carried to the
    resolution and referred as the document says (York s5 Stage 3 para 4, Dudley Key principle
    9, Barnsley 3.10, Swindon s4 Stage 5)."""
    return list(dict.fromkeys(p for o in book.outcomes for p in o.learning_points))


def rule_of(book: CaseBook, d: DeadlineState) -> DeadlineRule | None:
    """The protocol rule a stage deadline comes from."""
    if d.kind != "stage" or d.stage is None:
        return None
    return next((r for r in book.protocol.stage(d.stage).deadlines if r.id == d.rule), None)


def timescale_of(book: CaseBook, d: DeadlineState) -> Timescale | None:
    rule = rule_of(book, d)
    return rule.timescale if rule is not None else None


def soft_max(book: CaseBook, d: DeadlineState) -> str:
    """The rule that lets an agreed timescale go beyond the document's maximum (Leeds s4
    bullet 1: "agreed and recorded"); empty where the maximum is hard (York's "whichever is
    less")."""
    timescale = timescale_of(book, d)
    return timescale.beyond_max if timescale is not None else ""


def beyond_max_note(agreed_by: list[str], reason: str, rule: str) -> str:
    return f"agreed by {', '.join(agreed_by)}; reason: {reason} ({rule})"


def keeps_reminding(book: CaseBook) -> bool:
    """Whether reminders go on after the protocol's nudges (a protocol frozen before this
    was recorded stops after them, and its awaited duties lapse, as they did then)."""
    return book.protocol.reminders.then_every_working_days is not None


def drifting(book: CaseBook, d: DeadlineState) -> bool:
    """Still waiting after every nudge the protocol gives: shown as drifting while open."""
    return (keeps_reminding(book) and d.live and not book.closed
            and d.nudges >= book.protocol.reminders.max_nudges)


def any_drifting(book: CaseBook) -> bool:
    return any(drifting(book, d) for d in book.deadlines.values())


def flags(book: CaseBook, now: datetime) -> list[str]:
    """What needs a person's eye, one line each, for status, the case page and reports."""
    out: list[str] = []
    if book.status == "paused":
        out.append(f"Paused since {london(book.paused_at)}: {book.paused_reason}")
    limit = book.protocol.overall_limit
    for d in book.deadlines.values():
        if d.kind == "overall" and d.status == "breached" and limit is not None \
                and limit.records_breach:
            out.append(f"Overall limit passed on {london(d.due)}: {d.what} ({d.timescale}); "
                       f"recorded as a breach, the case carries on ({d.source})")
        if d.beyond_max and d.status != "cancelled":
            agreed = d.agreed.describe() if d.agreed else d.timescale
            out.append(f"Timescale longer than the document asks for where possible, for "
                       f"'{d.what}': {agreed}, "
                       f"{d.beyond_max}")
        if drifting(book, d):
            refer = [r.label for r in book.protocol.referrals_from(book.stage_id)
                     if not r.on_not_resolved] if d.kind == "stage" else []
            out.append(f"Drifting: {_waiting(book, d)}; {d.nudges} reminders sent, reminding "
                       f"every {book.protocol.reminders.then_every_working_days} working days"
                       + (f"; the document allows: {', '.join(refer)} (refer)" if refer
                          else ""))
        elif d.kind == "duty" and d.status == "expired" and d.due is not None and d.due <= now:
            out.append(f"Overdue since {london(d.due)}: {_waiting(book, d)}")
    return out


def is_written_confirmation(book: CaseBook, d: DeadlineState) -> bool:
    """Whether a duty deadline is a written confirmation the document says will be given
    (York s5 Stage 2 para 3, Dudley s4 Stage 1, Key principle 8), by the duty's kind."""
    if d.kind != "duty":
        return False
    duties = [*book.protocol.post_resolution,
              *(x for s in book.protocol.stages for x in s.on_resolution)]
    return any(x.id == d.rule and x.kind == "written_confirmation" for x in duties)


def awaited_confirmations(book: CaseBook) -> list[DeadlineState]:
    """The written confirmations a resolved case still waits for."""
    if book.status != "resolved":
        return []
    return [d for d in book.awaited_duties() if is_written_confirmation(book, d)]


def _waiting(book: CaseBook, d: DeadlineState) -> str:
    if is_written_confirmation(book, d):
        return f"awaiting written confirmation ({d.what}), overdue"
    if d.status == "awaiting_agreement":
        return f"no timescale agreed for '{d.what}'"
    if d.due is None:
        return f"'{d.what}' has no fixed time ({d.timescale}, {d.source})"
    return f"'{d.what}' was due {london(d.due)}"
