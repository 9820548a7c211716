"""What the protocol forbids, checked before any message is recorded.

Each check raises :class:`temporalio.exceptions.ApplicationError` of type ``Rejected`` with a
sentence a manager understands and, as its details, a :class:`protocols.actions.Refusal` naming
the message field it concerns; the update is then refused and nothing is written. ``CHECKS``
holds one check per action id of :mod:`protocols.actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from temporalio.exceptions import ApplicationError

from protocols import agreed_bounds
from protocols.actions import ACTIONS, Refusal
from protocols.addresses import check_domain
from protocols.caserecord import london
from protocols.messages import (
    AgreeTimescale,
    Assign,
    Bypass,
    CloseUnconfirmed,
    ConfirmInWriting,
    DeadlineState,
    LegalHold,
    MarkStepDone,
    Pause,
    RecordDiscussion,
    RecordOutcome,
    Refer,
    ReportImmediateRisk,
    Resume,
    Withdraw,
)
from protocols.oneside import both_sides
from protocols.permissions import BUSINESS_UNIT, Effective, Seat, eligible, held_by, names
from protocols.schema import Referral, Timescale
from workflows import first_steps, limits
from workflows.book import CaseBook

REJECTED = "Rejected"


def reject(message: str, field: str | None = None) -> NoReturn:
    """Refuse the action: ``field`` is the message field the refusal concerns (None: all)."""
    raise ApplicationError(message, Refusal(message=message, field=field).model_dump(),
                           type=REJECTED, non_retryable=True)


def _must_be_open(book: CaseBook, *, allow_paused: bool = False,
                  allow_resolved: bool = False) -> None:
    if book.closed:
        when = book.closed_at.date().isoformat() if book.closed_at else ""
        reject(f"This case is {book.status} ({when}); nothing more can be recorded on it.")
    if book.status == "paused" and not allow_paused:
        reject(f"The case is paused ({book.paused_reason}). Resume it first.")
    if book.status == "resolved" and not allow_resolved:
        reject("The case has been resolved; only written confirmation of the outcome can still "
               "be recorded.")


def _stage_exists(book: CaseBook, stage_id: str, field: str = "stage") -> None:
    ids = [s.id for s in book.protocol.ladder(book.inp.case.category)]
    if stage_id not in ids:
        reject(f"There is no stage '{stage_id}' in the {book.protocol.short_name} protocol "
               f"(stages: {', '.join(ids)}).", field)


def check_outcome(book: CaseBook, msg: RecordOutcome) -> None:
    _must_be_open(book)
    _stage_exists(book, msg.stage)
    if msg.stage != book.stage_id:
        reject(f"Stage {msg.stage} is not the current stage: the case is at stage "
               f"{book.stage_id} ({book.stage.name}). Record the outcome for stage "
               f"{book.stage_id}.", "stage")
    problem = first_steps.outcome_problem(book, msg)
    if problem:
        reject(problem, "reasons")


def check_bypass(book: CaseBook, msg: Bypass, *, collected: bool = False) -> None:
    """``collected``: each person's agreement is gathered through their own link or token
    (a permission rule with ``agreement = "all"``), so nobody needs to list who agreed."""
    _must_be_open(book)
    rule = book.protocol.bypass
    if not rule.allowed:
        reject(f"The {book.protocol.short_name} protocol does not allow stages to be bypassed "
               f"({rule.source}). Agree a shorter timescale instead.")
    _stage_exists(book, msg.to_stage, "to_stage")
    here, there = book.protocol.stage_index(book.stage_id), book.protocol.stage_index(msg.to_stage)
    if there <= here:
        reject(f"A bypass can only move the case forward: stage {msg.to_stage} is not after the "
               f"current stage {book.stage_id}.", "to_stage")
    if rule.urgent_only and not msg.urgent:
        reject(f"The {book.protocol.short_name} protocol allows skipping stages only when the "
               f"matter is urgent ({rule.source}). Say that it is urgent, and why.", "urgent")
    missing = [g for g in rule.requires_agreement_of
               if g not in {a.strip().lower() for a in msg.agreement_of}]
    if not collected and (missing or (rule.requires_agreement_of and not msg.agreed_by)):
        needed = " and ".join(rule.requires_agreement_of)
        reject(f"A bypass needs the agreement of the {needed} involved ({rule.source}); "
               f"record who agreed.", "agreed_by")


def check_pause(book: CaseBook, msg: Pause) -> None:
    _must_be_open(book)
    halting = book.protocol.halting
    if halting is not None and not halting.allowed:
        reject(f"The {book.protocol.short_name} protocol does not provide for halting a case, "
               f"so its timescales keep running ({halting.source}: {halting.text})")


def check_resume(book: CaseBook, msg: Resume) -> None:
    _must_be_open(book, allow_paused=True)
    if book.status != "paused":
        reject("The case is not paused.")


def check_agree_timescale(book: CaseBook, msg: AgreeTimescale, now: datetime) -> None:
    _must_be_open(book)
    _stage_exists(book, msg.stage)
    if msg.stage != book.stage_id:
        reject(f"Timescales can be agreed for the current stage only (stage {book.stage_id}), "
               f"not stage {msg.stage}.", "stage")
    deadline = find_agreeable(book, msg.deadline)
    rule = book.protocol.stage(msg.stage)
    timescale = next(d.timescale for d in rule.deadlines if d.id == deadline.rule)
    agreed = msg.timescale
    if agreed.kind in ("working_days", "hours") and agreed.amount is None:
        reject(f"Say how many {agreed.kind.replace('_', ' ')} were agreed.", "timescale.amount")
    if agreed.kind == "until":
        if agreed.until is None:
            reject("Give the agreed date and time.", "timescale.until")
        if agreed.until.tzinfo is None:
            reject("The agreed date needs a time zone.", "timescale.until")
        if agreed.until <= now:
            reject("The agreed date is in the past.", "timescale.until")
        if deadline.latest_allowed is not None and agreed.until > deadline.latest_allowed:
            if timescale.beyond_max:
                check_beyond_max(book, msg, deadline, timescale)
                return
            reject(f"The protocol allows at most {timescale.max_working_days} working days for "
                   f"this stage ({deadline.source}); the latest date is "
                   f"{deadline.latest_allowed.isoformat()}.", "timescale.until")
    if (agreed.kind == "working_days" and timescale.max_working_days is not None
            and (agreed.amount or 0) > timescale.max_working_days):
        if timescale.beyond_max:
            check_beyond_max(book, msg, deadline, timescale)
            return
        reject(f"The protocol allows at most {timescale.max_working_days} working days for this "
               f"stage ({deadline.source}); {agreed.amount} were asked for.",
               "timescale.amount")
    if deadline.agreed is not None and not msg.reason:
        reject("Changing an agreed timescale is an extension: say why, and who agreed it.",
               "reason")
    if deadline.agreed is not None and not msg.agreed_by:
        reject("Record who agreed the extension.", "agreed_by")


def check_agreed_bounds(book: CaseBook, msg: AgreeTimescale) -> None:
    """The count an agreed timescale may take (protocols.agreed_bounds): the rule's own words.
    Run by the workflow before the other checks (so whoever tries hears the rule), behind a
    patch in its handler (a running case may have accepted 0 hours before the rule)."""
    if book.closed or book.status != "open" or msg.stage != book.stage_id:
        return  # check_agree_timescale says why it cannot be agreed at all
    rule = book.protocol.stage(book.stage_id)
    try:
        deadline = find_agreeable(book, msg.deadline)
    except ApplicationError:
        return
    timescale = next(d.timescale for d in rule.deadlines if d.id == deadline.rule)
    out_of_bounds = agreed_bounds.refusal(msg.timescale, timescale)
    if out_of_bounds:
        reject(out_of_bounds, "timescale.amount")


def check_beyond_max(book: CaseBook, msg: AgreeTimescale, deadline: DeadlineState,
                     timescale: Timescale) -> None:
    """A timescale past a "where possible" maximum (Leeds: "ideally within 10 working days")
    is accepted only with who agreed it and why ("agreed and recorded", s4 bullet 1)."""
    if msg.reason.strip() and [n for n in msg.agreed_by if n.strip()]:
        return
    reject(f"The {book.protocol.short_name} protocol asks for at most "
           f"{timescale.max_working_days} working days where possible ({deadline.source}); a "
           f"longer timescale must be agreed and recorded ({timescale.beyond_max}): say who "
           f"agreed it and why.", "agreed_by" if msg.reason.strip() else "reason")


def find_agreeable(book: CaseBook, rule_id: str):
    candidates = [d for d in book.stage_deadlines()
                  if d.live and _rule_kind(book, d.rule) == "agreed"]
    if rule_id:
        candidates = [d for d in candidates if d.rule == rule_id]
    if not candidates:
        reject(f"Stage {book.stage_id} of the {book.protocol.short_name} protocol has no "
               f"timescale to agree{' called ' + repr(rule_id) if rule_id else ''}; its "
               f"timescales are fixed by the document.")
    return candidates[0]


def _rule_kind(book: CaseBook, rule_id: str) -> str:
    for rule in book.stage.deadlines:
        if rule.id == rule_id:
            return rule.timescale.kind
    return ""


def role_keys(book: CaseBook) -> list[str]:
    keys = ["raising", "receiving"]
    for stage in book.protocol.stages:
        keys += [f"{stage.id}.raising", f"{stage.id}.receiving"]
    return keys


def check_assign(book: CaseBook, msg: Assign) -> None:
    _must_be_open(book, allow_paused=True, allow_resolved=True)
    keys = role_keys(book)
    if msg.role not in keys:
        reject(f"'{msg.role}' is not a role in this case; use one of: {', '.join(keys)}.",
               "role")
    if not msg.person.name:
        reject("Give the name of the person taking over the role.", "person.name")
    try:
        check_domain(msg.person.email, book.inp.mail_domains)
    except ValueError as exc:
        reject(str(exc), "person.email")


def crossed_sides(book: CaseBook, action_id: str, msg: Any) -> str:
    """Why a hand-over would name one address for roles of both agencies ('' if not)."""
    if action_id != "assign" or not msg.person.email:
        return ""
    people = {key: seat.person for key, seat in book.seats().items() if not seat.stand_in}
    people[msg.role] = msg.person
    _, crossed = both_sides(book.protocol, people, msg.person.email)
    return crossed + "." if crossed else ""


def check_confirm(book: CaseBook, msg: ConfirmInWriting) -> None:
    _must_be_open(book, allow_paused=True, allow_resolved=True)
    awaited = book.awaited_duties()
    if not awaited:
        reject("No written confirmation is awaited on this case: it is due once an outcome "
               "has been recorded as resolved.")
    if msg.duty and msg.duty not in {d.rule for d in awaited}:
        reject(f"'{msg.duty}' is not awaited; awaited: {', '.join(d.rule for d in awaited)}.",
               "duty")


def check_risk(book: CaseBook, msg: ReportImmediateRisk) -> None:
    _must_be_open(book, allow_paused=True, allow_resolved=True)


def check_withdraw(book: CaseBook, msg: Withdraw) -> None:
    _must_be_open(book, allow_paused=True, allow_resolved=True)


def check_discussion(book: CaseBook, msg: RecordDiscussion, now: datetime) -> None:
    _must_be_open(book, allow_paused=True, allow_resolved=True)
    if msg.at is not None and msg.at > now:
        reject(f"The discussion is dated {london(msg.at)} (London time), which is in the "
               f"future (it is now {london(now)}). Record a discussion once it has taken "
               "place.", "at")
    if msg.stage:
        _stage_exists(book, msg.stage)
        if msg.stage not in book.stages_visited:
            reject(f"Stage {msg.stage} has not been reached on this case (it has been at "
                   f"stage{'s' if len(book.stages_visited) > 1 else ''} "
                   f"{', '.join(book.stages_visited)}).", "stage")


def markable(book: CaseBook) -> list[DeadlineState]:
    """The live deadlines that remind rather than escalate: steps that can be marked done."""
    return [d for d in book.deadlines.values()
            if d.kind == "stage" and d.on_expiry != "escalate" and d.live]


def _markable_list(book: CaseBook) -> str:
    steps = markable(book)
    if not steps:
        return "No step can be marked done on this case now."
    return "Steps that can be marked done: " + "; ".join(f"{d.key} ({d.what})" for d in steps)


def find_markable(book: CaseBook, key: str) -> DeadlineState:
    """The deadline a ``mark_step_done`` names, by key or (in the current stage) rule id."""
    found = book.deadlines.get(key) or next(
        (d for d in book.stage_deadlines() if d.rule == key), None)
    if found is None:
        reject(f"There is no deadline '{key}' on this case. {_markable_list(book)}", "deadline")
    if found.kind == "duty":
        reject(f"'{found.what}' is a duty after resolution: record it with confirm-in-writing. "
               f"{_markable_list(book)}", "deadline")
    if found.kind == "overall" or found.on_expiry == "escalate":
        reject(f"'{found.what}' ({found.key}) escalates the case when it passes, so it is met "
               f"by recording the stage's outcome, not marked done. {_markable_list(book)}",
               "deadline")
    if not found.live:
        reject(f"'{found.what}' ({found.key}) is no longer open (it is {found.status}). "
               f"{_markable_list(book)}", "deadline")
    return found


def deadline_stage(book: CaseBook, d: DeadlineState) -> str:
    """The stage whose role holders a deadline names: its own, or the earlier one it says
    (``holders_of``, Leeds Step 3b); the current stage for a deadline of no stage."""
    stage = d.stage or book.stage_id
    if d.kind == "stage":
        rule = next((r for r in book.protocol.stage(stage).deadlines if r.id == d.rule), None)
        if rule is not None and rule.holders_of:
            return rule.holders_of
    return stage


def check_step_done(book: CaseBook, msg: MarkStepDone) -> None:
    _must_be_open(book, allow_paused=True)
    find_markable(book, msg.deadline)


def find_referral(book: CaseBook, referral_id: str) -> Referral:
    """The referral a decision is about: one the document allows from the current stage."""
    here = book.protocol.referrals_from(book.stage_id)
    if referral_id:
        here = [r for r in here if r.id == referral_id]
    if not here:
        known = ", ".join(r.id for r in book.protocol.referrals_from(book.stage_id))
        reject(f"The {book.protocol.short_name} protocol reserves no referral"
               f"{' called ' + repr(referral_id) if referral_id else ''} at stage "
               f"{book.stage_id}" + (f"; here: {known}." if known else "."), "referral")
    if len(here) > 1:
        reject("Say which referral: " + ", ".join(f"{r.id} ({r.label})" for r in here) + ".",
               "referral")
    return here[0]


def check_refer(book: CaseBook, msg: Refer) -> None:
    _must_be_open(book)
    referral = find_referral(book, msg.referral)
    if not msg.refer and book.referral_open != referral.id:
        reject(f"A decision not to refer closes the case only where the stage's 'not resolved' "
               f"offered it ({referral.source}); otherwise just carry on with the stage.",
               "referral")
    if not [n for n in msg.decided_by if n.strip()]:
        reject(f"Record who decided ({referral.label.lower()}: {referral.source}).",
               "decided_by")


def check_close_unconfirmed(book: CaseBook, msg: CloseUnconfirmed) -> None:
    """Only while written confirmation is awaited, and only with a reason (issue 15: it
    "never lapses silently"; the case closes only by an explicit action recording why)."""
    _must_be_open(book, allow_paused=True, allow_resolved=True)
    if not limits.awaited_confirmations(book):
        reject("No written confirmation is awaited on this case: a case closes without it only "
               "after an outcome recorded as resolved, while the confirmation is still due.")
    if not msg.reason.strip():
        reject("Say why the case closes without written confirmation: the reason is recorded "
               "on the case and in its report.", "reason")


def check_legal_hold(book: CaseBook, msg: LegalHold) -> None:
    if book.legal_hold == msg.on:
        reject(f"The case is already {'on' if msg.on else 'off'} legal hold.")


# -- who may ----------------------------------------------------------------------------------
VERBS = {
    "record_outcome": "record this stage's outcome",
    "bypass": "move the case past this stage",
    "pause": "pause the case",
    "resume": "resume the case",
    "agree_timescale": "agree this stage's timescales",
    "assign": "hand over the role {role}",
    "confirm_in_writing": "confirm the outcome in writing",
    "report_immediate_risk": "report immediate risk on this case",
    "withdraw": "withdraw the disagreement",
    "set_legal_hold": "place or lift a legal hold",
    "record_discussion": "record a discussion on this case",
    "mark_step_done": "mark this step done",
    "refer": "decide on this referral",
    "close_unconfirmed": "close this case without written confirmation",
}


def _party(book: CaseBook, party: str, target: str) -> str:
    stage = book.stage
    side = target.rpartition(".")[2]
    labels = {
        "stage_holders": f"the stage {stage.id} role holders",
        "stage_named": f"the stage {stage.id} role holders",
        "stage_raising": f"the stage {stage.id} {book.role_title(stage, 'raising')}",
        "stage_receiving": f"the stage {stage.id} {book.role_title(stage, 'receiving')}",
        "raising_side": "the raising side", "receiving_side": "the receiving side",
        "practitioners": "the two practitioners", "named": "the people named on the case",
        "deadline_holders": f"the stage {target or stage.id} role holders the deadline names",
        BUSINESS_UNIT: "the partnership's business unit", "own_role": "its holder",
        "side_manager": f"a manager of the {side} side",
        "side_vacant": f"anyone of the {side} side while nobody is named for it",
    }
    return labels.get(party, f"the holder of {party}")


def _role_words(book: CaseBook, key: str) -> str:
    """A role key in words, the key kept for the CLI's ``--role``: "of Line manager (raising
    agency) at stage 2 (2.raising)"."""
    stage_id, _, side = key.rpartition(".")
    if side not in ("raising", "receiving"):
        return key
    if not stage_id:
        who = "the practitioner raising the concern" if side == "raising" else (
            "the practitioner the disagreement is with")
        return f"of {who} ({key})"
    stage = next((s for s in book.protocol.stages if s.id == stage_id), None)
    if stage is None:
        return key
    title = book.role_title(stage, side)
    if side not in title:
        title = f"{title} ({side} agency)"
    return f"of {title} at stage {stage_id} ({key})"


def _who_may(book: CaseBook, eff: Effective, allowed: dict[str, Seat], target: str) -> str:
    parties = [_party(book, p, target) for p in eff.rule.who]
    who = ", ".join(parties[:-1]) + (" or " if len(parties) > 1 else "") + parties[-1]
    named = names(allowed.values())
    return f"{who} ({named})" if named else f"{who} (nobody is named for that yet)"


def acting_keys(book: CaseBook, actor: Any) -> list[str]:
    """The role keys the actor acts in: held by e-mail (or role key and name), or, for the
    business unit acting for someone, the role named."""
    if actor.role_key == BUSINESS_UNIT:
        return [actor.on_behalf_of] if actor.on_behalf_of else []
    return held_by(actor, book.seats())


def needed_agreement(book: CaseBook, eff: Effective) -> dict[str, Seat]:
    return eligible(eff.rule.who, book.seats(), book.stage_id,
                    [s.id for s in book.protocol.stages])


def check_permission(book: CaseBook, action_id: str, msg: Any) -> None:
    """Refuse the action unless the acting person (``msg.by``) may take it now, saying who
    may (and where the rule comes from)."""
    actor = msg.by
    target = getattr(msg, "role", "") if action_id == "assign" else ""
    if action_id == "mark_step_done":
        target = deadline_stage(book, find_markable(book, msg.deadline))
    of = target if action_id == "assign" else ""
    if action_id == "confirm_in_writing":
        awaited = [d.rule for d in book.awaited_duties()]
        of = msg.duty or (awaited[0] if awaited else "")
    eff = book.permission(action_id, of=of)
    allowed = eligible(eff.rule.who, book.seats(), book.stage_id,
                       [s.id for s in book.protocol.stages], target=target)
    verb = VERBS[action_id].format(role=_role_words(book, target))
    if actor.role_key == BUSINESS_UNIT:
        if BUSINESS_UNIT in eff.rule.who:
            return
        if not actor.on_behalf_of or not actor.reason:
            reject(f"The business unit may {verb} only on behalf of someone who may: say whose "
                   f"role (on behalf of, e.g. 2.raising) and why. Who may: "
                   f"{_who_may(book, eff, allowed, target)} ({eff.cites()}).")
    acting = acting_keys(book, actor)
    if not any(k in allowed for k in acting):
        reject(f"Only {_who_may(book, eff, allowed, target)} may {verb} ({eff.cites()}).",
               "role" if action_id == "assign" else None)
    if (action_id == "bypass" and eff.rule.agreement == "all" and book.bypass_to == msg.to_stage
            and all(k in book.bypass_agreed for k in acting if k in allowed)):
        still = [s for k, s in allowed.items() if k not in book.bypass_agreed]
        reject(f"Your agreement to move to stage {msg.to_stage} is already recorded; still to "
               f"agree: {names(still)}.")


def collects_agreement(book: CaseBook) -> bool:
    return book.permission("bypass").rule.agreement == "all"


def run(book: CaseBook, action_id: str, msg: Any, now: datetime, *, permissions: bool) -> None:
    """The protocol's check for the action, then (``permissions``) who may take it."""
    if action_id == "bypass":
        check_bypass(book, msg, collected=permissions and collects_agreement(book))
    else:
        CHECKS[action_id](book, msg, now)
    if permissions:
        check_permission(book, action_id, msg)


Check = Callable[[CaseBook, Any, datetime], None]

# One check per action id; the workflow runs it in the action's validator and again, under its
# lock, just before the action is done (the case may have moved on meanwhile).
CHECKS: dict[str, Check] = {
    "record_outcome": lambda book, msg, now: check_outcome(book, msg),
    "bypass": lambda book, msg, now: check_bypass(book, msg),
    "pause": lambda book, msg, now: check_pause(book, msg),
    "resume": lambda book, msg, now: check_resume(book, msg),
    "agree_timescale": check_agree_timescale,
    "assign": lambda book, msg, now: check_assign(book, msg),
    "confirm_in_writing": lambda book, msg, now: check_confirm(book, msg),
    "report_immediate_risk": lambda book, msg, now: check_risk(book, msg),
    "withdraw": lambda book, msg, now: check_withdraw(book, msg),
    "set_legal_hold": lambda book, msg, now: check_legal_hold(book, msg),
    "record_discussion": check_discussion,
    "mark_step_done": lambda book, msg, now: check_step_done(book, msg),
    "refer": lambda book, msg, now: check_refer(book, msg),
    "close_unconfirmed": lambda book, msg, now: check_close_unconfirmed(book, msg),
}
assert set(CHECKS) == {a.id for a in ACTIONS}, "every action needs its check"
