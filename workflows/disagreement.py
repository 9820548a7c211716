"""DisagreementWorkflow: one professional disagreement, walked through its protocol.

One generic workflow serves every partnership: the protocol is frozen into the input. The code
enters stages, works out when things fall due (from its recorded calendar table, else by the
calendar activity: workflows.calendar_calls), sleeps until the next instant or message, and does
what the protocol says on expiry (escalate, or remind and keep waiting).
Every action in the table of :mod:`protocols.actions` is an update with a validator, and every
manager action is also accepted as a signal (an invalid signal is recorded as refused; it never
harms the case). The handlers are made from the table when the class is defined, under every
name the action has had, so each saved history finds the names it recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from protocols.actions import ACTIONS, ActionSpec
    from protocols.caserecord import london
    from protocols.categories import first_steps as category_first_steps
    from protocols.messages import (
        CONTACT_METHODS,
        ActionResult,
        AgreeTimescale,
        Assign,
        Bypass,
        CaseInput,
        CaseRecord,
        CaseState,
        CloseUnconfirmed,
        ConfirmInWriting,
        DeadlineAnswer,
        DeadlineQuery,
        DeadlineState,
        Discussion,
        LegalHold,
        MailEvent,
        MailRecord,
        MarkStepDone,
        NotificationRequest,
        NotificationResult,
        Outcome,
        Pause,
        PauseShift,
        RecordDiscussion,
        RecordOutcome,
        Refer,
        ReportImmediateRisk,
        Resume,
        ShiftRequest,
        TimelineEvent,
        Withdraw,
    )
    from protocols.schema import Duty, Referral
    from workflows import first_steps, limits
    from workflows import search_attributes as sa
    from workflows import validation as check
    from workflows.backdated import HeldMail, catch_up_summary
    from workflows.book import CaseBook
    from workflows.calendar_calls import CaseCalendar
    from workflows.case_limits import ActionRate, Switch

# Patch id: an outcome that resolves the case, and a confirmation that closes it, are one
# e-mail each (no separate "outcome recorded" or "case closed" e-mail). Issue 16.
ONE_MAIL_PER_EVENT = "one-mail-per-event"
# Patch id: a resolved case closed without the written confirmation it awaited (issue 15).
CLOSE_UNCONFIRMED = "close-unconfirmed-v1"
# Patch id: a duty that names its recipients' roles (Swindon's agreed action fed back).
FEEDBACK_TO_ROLES = "feedback-to-roles-v1"
# Patch id: a backdated case records each deadline that passed before it was raised at the
# instant it passed, moves straight to where they lead, and sends one summary e-mail per
# person instead of an e-mail per escalation (workflows/backdated.py). Issue 16.
BACKDATED_SUMMARY = "backdated-summary-v1"
# Patch id: an agreed timescale's count is bounded by the protocol's rule (issue 16).
AGREED_BOUNDS = "agreed-bounds-v1"
# Working-day sums take milliseconds; a short timeout means an attempt lost with its worker
# is retried elsewhere within seconds, and the case's next deadline is barely delayed.
CALENDAR_TIMEOUT = timedelta(seconds=10)
NOTIFY_TIMEOUT = timedelta(seconds=60)
# The e-mail activity heartbeats every few seconds, so a worker that dies mid-send is noticed
# within this time and the e-mail retried on another worker, not a whole NOTIFY_TIMEOUT later.
NOTIFY_HEARTBEAT = timedelta(seconds=10)
# E-mail keeps retrying with backoff for up to a week; it never fails or stalls the case.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
NOTIFY_GIVE_UP = timedelta(days=7)
# An e-mail's extra values up to this length travel in its (small) activity input; longer
# ones (texts people typed) stay in the case and reach the activity by its query.
MAIL_SHORT = 80


def _update_handler(action: ActionSpec, name: str) -> Callable[..., Any]:
    async def update(self: DisagreementWorkflow, msg: Any) -> ActionResult:
        return await self._apply_update(action, msg)

    def validate(self: DisagreementWorkflow, msg: Any) -> None:
        self._check_rate()
        self._validate(action, msg)

    # The message's model decides how the SDK decodes the update's argument.
    update.__annotations__ = {"msg": action.model, "return": ActionResult}
    validate.__annotations__ = {"msg": action.model, "return": None}
    update.__name__ = update.__qualname__ = f"update_{name}"
    handler = workflow.update(name=name)(update)
    handler.validator(validate)  # type: ignore[attr-defined]
    return handler


def _signal_handler(action: ActionSpec, name: str) -> Callable[..., Any]:
    async def signal(self: DisagreementWorkflow, raw: Any) -> None:
        await self._apply_signal(action, raw)

    signal.__annotations__ = {"raw": Any, "return": None}
    signal.__name__ = signal.__qualname__ = f"signal_{name}"
    return workflow.signal(name=name)(signal)


def _with_actions(cls: type) -> type:
    """Add an update (and, for a manager's action, a signal) per name of every action, as
    methods of the class, so that they exist before the first message of a case arrives and
    signals are handled in the order they came (registering them at run time would not)."""
    for action in ACTIONS:
        assert callable(getattr(cls, f"_do_{action.id}", None)), f"no _do_{action.id}"
        for name in action.names:
            setattr(cls, f"update_{name}", _update_handler(action, name))
        for name in action.signal_names:
            setattr(cls, f"signal_{name}", _signal_handler(action, name))
    return cls


@workflow.defn
@_with_actions
class DisagreementWorkflow:
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self._book = CaseBook(inp, workflow.info().workflow_id, workflow.now())
        self._lock = asyncio.Lock()
        self._wake = False
        self._mail: list[asyncio.Task[None]] = []
        self._mail_seq = 0
        # E-mail by query (issue 14): each unsent e-mail's record as it stood at its event, by
        # event key, for the activity's one query (see _notify); see _mail_by_query.
        self._mail_records: dict[str, tuple[CaseState, int, dict[str, str]]] = {}
        self._mail_small = Switch("mail-by-query-v1")
        # Issue 14: a cap on actions per case (validators; signals behind a patch), and a run
        # that continues as new before Temporal's limits, carrying the record (CaseBook.carry).
        carried = inp.carried
        self._rate = ActionRate(inp.limits, carried.recent_actions if carried else None)
        self._rate_applies = Switch("action-rate-v1")
        # Refused signals are recorded on the timeline up to the case's daily cap (per run):
        # past it a flood of refused signals would grow the record carried into each new run
        # until it passed Temporal's payload limit and the case stalled for good.
        self._refusals = ActionRate(inp.limits.model_copy(
            update={"per_minute": inp.limits.per_day}))
        self._continue_applies = Switch("continue-as-new-v1")
        self._runs = [*carried.runs] if carried else []
        # Issue 18: deadlines from the case's recorded calendar table (workflows.calendar_calls).
        self._calendar = CaseCalendar(carried.calendar_table if carried else None,
                                      CALENDAR_TIMEOUT)
        if carried is not None:
            self._mail_seq = carried.mail_seq
        # Messages can arrive in the very first activation, before run() has entered a stage;
        # their handlers wait for this, and validators leave the check to the handler till then.
        self._opened = False
        # Who-may checks (protocols.permissions) in the handlers: see _permissions_apply.
        self._permissions = Switch("permissions-v1")
        # Backdating (issue 16): while the deadlines that passed before the case was raised are
        # caught up, ``_at`` is the instant being recorded and e-mails are held in ``_held``.
        self._at: datetime | None = None
        self._held: list[HeldMail] | None = None

    # -- main loop ----------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: CaseInput) -> CaseRecord:
        book = self._book
        async with self._lock:
            if inp.carried is None:
                await self._open_case(inp)
            self._opened = True
        while not book.closed:
            await self._sleep()
            async with self._lock:
                await self._process_due()
            if not book.closed and self._history_full(inp):
                await self._continue_as_new(inp)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._mail:
            await asyncio.gather(*self._mail)
        return CaseRecord(state=book.snapshot(workflow.now()), timeline=list(book.timeline))

    async def _open_case(self, inp: CaseInput) -> None:
        book, now = self._book, workflow.now()
        protocol = inp.protocol
        book.event(
            now,
            "raised",
            f"Disagreement raised under the {protocol.partnership} protocol "
            f"({inp.urgency}); {inp.case.raising.agency} with {inp.case.receiving.agency}.",
            actor=inp.raised_by.name,
            via="system",
            stage="",
            urgency=inp.urgency,
            protocol_hash=inp.protocol_hash[:16],
        )
        for pre in protocol.preconditions:
            if inp.case.category == pre.applies_to_category:
                book.event(now, "precondition", f"Confirmed: {pre.requirement}",
                           stage="", source=pre.source)
        entry, why = self._entry_stage(inp)
        if book.immediate_risk:
            self._alarm(inp.case.risk_to_child or "Immediate risk reported when raising the case",
                        inp.raised_by.name)
        if protocol.overall_limit is not None:
            limit = protocol.overall_limit
            arose = inp.case.arose or now
            [answer] = await self._compute([DeadlineQuery(
                key="overall", clock_start=arose, timescale=limit.timescale.model_dump(),
                with_reminder=True)])
            book.deadlines["overall"] = DeadlineState(
                key="overall", kind="overall", stage=None, rule="overall", what=limit.what,
                who="All parties", timescale=limit.timescale.describe(),
                timescale_kind=limit.timescale.kind,
                on_expiry=limit.describe_passing(), source=limit.source,
                clock_start=arose, due=answer.due, remind_at=answer.remind_at)
        arose = inp.case.arose
        backdated = (arose is not None and arose < now and inp.urgency != "immediate-risk"
                     and workflow.patched(BACKDATED_SUMMARY))
        if backdated:
            self._held = []
        await self._enter_stage(entry, why, announce_case=True)
        if backdated:
            await self._catch_up()

    def _now(self) -> datetime:
        """The instant an event happened: while a backdated case is caught up, the instant the
        deadline being recorded passed; otherwise now."""
        return self._at or workflow.now()

    async def _catch_up(self) -> None:
        """Record, in the order they fell, each deadline (and nudge) that passed before the case
        was raised, at its own instant, moving the case where they lead; then send one summary
        e-mail per person in place of the e-mails held meanwhile. The instants come from the
        calendar activity's answers already in history; nothing here looks a holiday up."""
        book, now = self._book, workflow.now()
        passed: list[DeadlineState] = []
        while not book.closed:
            due = [(d.due, 0, d) for d in book.deadlines.values()
                   if d.status in ("pending", "awaiting_agreement") and d.due is not None
                   and d.due <= now]
            due += [(d.next_nudge, 1, d) for d in book.deadlines.values()
                    if d.live and d.next_nudge is not None and d.next_nudge <= now]
            if not due:
                break
            at, nudge, d = min(due, key=lambda item: (item[0], item[1]))
            self._at = at
            if nudge:
                await self._nudge(d)
            else:
                passed.append(d)
                await self._expire(d)
        self._at = None
        for d in book.deadlines.values():
            if d.live and d.remind_at is not None and d.remind_at <= now:
                d.reminded = True  # the summary says what is due; no separate reminder
        held, self._held = self._held or [], None
        if not passed:
            for mail in held:
                self._notify(mail.event, mail.to, cc=mail.cc, attach=mail.attach,
                             deadline_key=mail.deadline_key, **mail.extra)
            return
        summary = catch_up_summary(book, passed, held)
        book.event(now, "backdated", summary.timeline_text, source=book.stage.source)
        self._notify("case_raised", summary.to, cc=summary.cc, attach=summary.attach,
                     why=summary.why, backdated=str(len(passed)))
        self._upsert_progress()

    def _history_full(self, inp: CaseInput) -> bool:
        """Whether this run's history is long enough to go on in a new run: at the case's own
        threshold, or when Temporal suggests it (well before its 51,200-event/50 MB end)."""
        info = workflow.info()
        full = (info.get_current_history_length() >= inp.limits.continue_after_events
                or info.is_continue_as_new_suggested())
        return full and self._continue_applies()

    async def _continue_as_new(self, inp: CaseInput) -> None:
        """Go on in a new run of the same case (same workflow id and first run, so links,
        search attributes and readers follow it), carrying the whole record. Waits first for
        every message being handled and every e-mail being sent, whose receipts belong here."""
        await workflow.wait_condition(lambda: workflow.all_handlers_finished()
                                      and all(t.done() for t in self._mail))
        book, now = self._book, workflow.now()
        runs = [*self._runs, workflow.info().run_id]
        workflow.logger.info("case %s: continuing as new after %d events (run %d)",
                             book.workflow_id, workflow.info().get_current_history_length(),
                             len(runs) + 1)
        carried = book.carry(runs, self._mail_seq, self._rate.recent(now))
        if self._calendar.table is not None:
            carried = carried.model_copy(update={"calendar_table": self._calendar.table})
        workflow.continue_as_new(
            inp.model_copy(update={"carried": carried}),
            search_attributes=(workflow.info().typed_search_attributes
                               if inp.search_attributes else None))

    def _check_rate(self) -> None:
        """Refuse an update past the case's cap on actions (validators never run on replay)."""
        if self._opened:
            why = self._rate.refusal(workflow.now())
            if why:
                check.reject(why)

    def _entry_stage(self, inp: CaseInput) -> tuple[str, str]:
        protocol = inp.protocol
        if inp.urgency == "immediate-risk" and protocol.risk_route.entry_stage:
            return (protocol.risk_route.entry_stage,
                    f"immediate risk: the protocol allows entry at stage "
                    f"{protocol.risk_route.entry_stage} ({protocol.risk_route.source})")
        if inp.urgency in ("urgent", "immediate-risk") and protocol.urgent_entry:
            return (protocol.urgent_entry.stage,
                    f"urgent: {protocol.urgent_entry.text} ({protocol.urgent_entry.source})")
        steps = category_first_steps(protocol, inp.case.category, inp.urgency)
        if steps is not None and workflow.patched(first_steps.FIRST_STEPS):
            category = protocol.category(inp.case.category)
            assert category is not None
            return steps.id, f"{category.label}: its own first steps come first ({steps.source})"
        return protocol.stages[0].id, "the first stage of the protocol"

    async def _sleep(self) -> None:
        wake_at = self._book.next_wake()
        self._wake = False
        if wake_at is None:
            await workflow.wait_condition(lambda: self._wake)
            return
        delay = wake_at - workflow.now()
        if delay <= timedelta(0):
            return
        try:
            await workflow.wait_condition(lambda: self._wake, timeout=delay)
        except TimeoutError:
            pass

    async def _process_due(self) -> None:
        book = self._book
        if book.status == "paused" and book.resume_remind_at is not None \
                and book.resume_remind_at <= workflow.now():
            await self._remind_to_resume()
        if book.closed or book.status == "paused":
            return
        now = workflow.now()
        for d in list(book.deadlines.values()):
            if book.closed or book.status == "paused" or not d.live:
                continue
            if (d.remind_at is not None and not d.reminded and d.remind_at <= now
                    and d.due is not None and d.due > now):
                d.reminded = True
                book.event(now, "reminder", f"Reminder: {d.what} is due {d.due.isoformat()}",
                           via="timer", deadline=d.key, source=d.source)
                self._notify("reminder", self._parties_for(d), deadline_key=d.key,
                             what=d.what, who=d.who)
            if d.due is not None and d.due <= now and d.status in ("pending",
                                                                   "awaiting_agreement"):
                await self._expire(d)
            elif d.next_nudge is not None and d.next_nudge <= now and d.live:
                await self._nudge(d)
        if book.status == "resolved" and not book.awaited_duties():
            self._close("Resolved; every duty after resolution is done or has lapsed.")
        self._upsert_progress()

    async def _expire(self, d: DeadlineState) -> None:
        book, now = self._book, self._now()
        if d.kind == "overall":
            d.status = "breached"
            limit = book.protocol.overall_limit
            assert limit is not None
            if limit.records_breach:
                self._record_overall_breach(d)
                return
            book.event(now, "deadline_passed", f"Overall limit passed: {d.what}", via="timer",
                       deadline=d.key, source=d.source)
            target = limit.escalate_to
            assert target is not None
            if (book.status == "open" and book.protocol.stage_index(book.stage_id)
                    < book.protocol.stage_index(target)):
                await self._enter_stage(target, f"the overall limit passed ({limit.source})",
                                        kind="escalated", started=d.due)
            return
        if d.kind == "stage" and d.on_expiry == "escalate":
            d.status = "breached"
            book.event(now, "deadline_passed", f"Deadline passed: {d.what}", via="timer",
                       deadline=d.key, source=d.source)
            nxt = book.protocol.next_stage(book.stage_id)
            if nxt is not None:
                await self._enter_stage(nxt.id, f"deadline passed: {d.what} ({d.source})",
                                        kind="escalated", started=d.due)
            return
        d.status = "expired"
        label = "Duty overdue" if d.kind == "duty" else "Deadline passed"
        book.event(now, "deadline_passed", f"{label}: {d.what}", via="timer", deadline=d.key,
                   source=d.source)
        self._notify("duty_overdue" if d.kind == "duty" else "deadline_passed",
                     self._parties_for(d), deadline_key=d.key, what=d.what, who=d.who)
        await self._schedule_nudge(d, d.due)

    def _record_overall_breach(self, d: DeadlineState) -> None:
        """A soft overall limit passed (Leeds' month, "where possible"): a breach on the record,
        the parties and the partnership told; the case stays where it is and carries on."""
        book, now = self._book, self._now()
        limit = book.protocol.overall_limit
        assert limit is not None
        where = ("resolved, awaiting its duties" if book.status == "resolved"
                 else f"stage {book.stage_id} ({book.stage.name})")
        book.event(now, "limit_breached",
                   f"Overall limit passed: {d.what} ({d.timescale}) was due "
                   f"{london(d.due) if d.due else 'by now'}. Recorded as a breach; the case "
                   f"carries on at {where}.", via="timer", deadline=d.key, source=d.source)
        stage = book.stage_id
        self._notify("deadline_passed", ["raising", "receiving", f"{stage}.raising",
                                         f"{stage}.receiving"],
                     cc=[f"contact:{c}" for c in limit.breach_told], deadline_key=d.key,
                     what=f"{d.what} ({d.timescale}, {d.source})", who=d.who)

    async def _nudge(self, d: DeadlineState) -> None:
        book, now = self._book, self._now()
        was_due = d.next_nudge
        d.nudges += 1
        d.next_nudge = None
        what = (f"agree a timescale for '{d.what}'" if d.status == "awaiting_agreement"
                else d.what)
        rules = book.protocol.reminders
        book.event(now, "nudge", f"Reminder {d.nudges}: {what}", via="timer", deadline=d.key,
                   source=rules.then_source if d.nudges > rules.max_nudges and rules.then_source
                   else rules.source)
        self._notify("nudge", self._parties_for(d), deadline_key=d.key, what=what, who=d.who,
                     nudge=str(d.nudges))
        await self._schedule_nudge(d, was_due)

    async def _schedule_nudge(self, d: DeadlineState, since: datetime | None) -> None:
        """The next nudge, counted from the instant the last one was due (not the timer's
        slightly later wake-up, which may fall after the cut-off)."""
        rules = self._book.protocol.reminders
        every = rules.nudge_working_days
        if self._held is not None:
            since = workflow.now()  # caught up: the next nudge counts from the raise
        if d.nudges >= rules.max_nudges:
            if rules.then_every_working_days is None:
                if d.kind == "duty":
                    d.status = "lapsed"
                return
            # Nothing drifts in silence: reminders go on while the case is open, and an
            # awaited duty stays overdue until someone records it (issue 15).
            every = rules.then_every_working_days
        [answer] = await self._compute([DeadlineQuery(
            key=d.key, clock_start=since or workflow.now(), working_days=every)])
        d.next_nudge = answer.due

    # -- stages -------------------------------------------------------------------------------
    async def _enter_stage(self, stage_id: str, why: str, *, kind: str = "stage_entered",
                           actor: str = "system", via: str = "system",
                           announce_case: bool = False, started: datetime | None = None) -> None:
        """Enter a stage. ``started`` is when the previous stage ended if a deadline ended it:
        timers fire a moment after their instant, and the next clock must start at the instant.
        """
        book = self._book
        now = started or workflow.now()
        previous = book.stage_id if book.stages_visited else None
        if previous is not None:
            book.cancel_stage_deadlines(previous)
        book.stage_id = stage_id
        book.stage_entered_at = now
        book.bypass_agreed, book.bypass_to = {}, ""
        book.stages_visited.append(stage_id)
        stage = book.stage
        arose = book.inp.case.arose or now
        queries = [
            DeadlineQuery(key=f"{stage.id}/{rule.id}",
                          clock_start=arose if rule.clock == "concern_arose" else now,
                          timescale=rule.timescale.model_dump(),
                          with_reminder=rule.remind_before)
            for rule in stage.deadlines
        ]
        queries.append(DeadlineQuery(key="nudge", clock_start=now,
                                     working_days=book.protocol.reminders.nudge_working_days))
        answers = {a.key: a for a in await self._compute(queries)}
        nudge_at = answers["nudge"].due if book.protocol.reminders.max_nudges else None
        for rule in stage.deadlines:
            a = answers[f"{stage.id}/{rule.id}"]
            unfixed = a.due is None
            book.deadlines[a.key] = DeadlineState(
                key=a.key, kind="stage", stage=stage.id, rule=rule.id, what=rule.what,
                who=rule.who, timescale=rule.timescale.describe(),
                timescale_kind=rule.timescale.kind, on_expiry=rule.on_expiry,
                source=rule.source,
                clock_start=arose if rule.clock == "concern_arose" else now,
                due=a.due, remind_at=a.remind_at, latest_allowed=a.latest_allowed,
                status="awaiting_agreement" if unfixed and rule.timescale.kind == "agreed"
                else "pending",
                next_nudge=nudge_at if unfixed else None)
        summary = f"Stage {stage.id} ({stage.name}) entered: {why}"
        if previous is not None:
            summary = f"Moved from stage {previous} to stage {stage.id} ({stage.name}): {why}"
        book.event(self._now(), kind if previous is not None else "stage_entered", summary,
                   actor=actor, via=via, source=stage.source)
        # Logs carry ids and stage numbers only, never case details (replay-aware logger).
        workflow.logger.info("case %s: stage %s entered (%s)", book.workflow_id, stage.id,
                             "escalated" if previous is not None else "first stage")
        to = [f"{stage.id}.raising", f"{stage.id}.receiving"]
        # Those who must act on a duty of this stage from an earlier stage's roles (Leeds
        # Step 3b: each Head of Service raises it with their Director) are told too.
        to += [f"{rule.holders_of}.{side}" for rule in stage.deadlines if rule.holders_of
               for side in ("raising", "receiving")]
        if announce_case:
            to = ["raising", "receiving", *to]
        cc = [f"contact:{c.contact}" for c in book.protocol.copies_for(stage.id, "on_entry")]
        attach = [f.kind for f in stage.forms]
        attach += [c.attach for c in book.protocol.copies_for(stage.id) if c.attach
                   and stage.id in c.at_stages and c.scope != "on_resolution"]
        self._notify("case_raised" if announce_case else "stage_entered", to, cc=cc,
                     attach=sorted(set(attach)), why=why,
                     previous_stage=previous or "")
        self._upsert_progress()

    # -- actions ------------------------------------------------------------------------------
    async def _do_record_outcome(self, msg: RecordOutcome, via: str) -> str:
        book, now = self._book, workflow.now()
        stage = book.stage
        book.outcomes.append(Outcome(stage=msg.stage, resolved=msg.resolved, at=now, by=msg.by,
                                     summary=msg.summary, agreed_actions=msg.agreed_actions,
                                     outstanding_matters=msg.outstanding_matters,
                                     learning_points=msg.learning_points,
                                     contact_method=msg.contact_method, reasons=msg.reasons))
        verdict = "resolved" if msg.resolved else "not resolved"
        book.event(now, "outcome_recorded", f"Stage {stage.id} {verdict}: {msg.summary}",
                   actor=msg.by.name, via=via, resolved=str(msg.resolved).lower(),
                   agreed_actions=msg.agreed_actions,
                   outstanding_matters=msg.outstanding_matters,
                   learning_points="; ".join(msg.learning_points),
                   contact_method=msg.contact_method or "",
                   **({"reasons": msg.reasons} if msg.reasons else {}))
        for warning in first_steps.warnings(book, msg):
            book.event(now, "warning", warning, actor=msg.by.name, via=via)
        # One e-mail per event per person: an outcome that resolves the case is told by the
        # "resolved" e-mail alone (cases begun before that still send both).
        # A conference to be convened closes the case: its "case closed" e-mail tells it.
        if not first_steps.closes_case(book, msg) and not (
                msg.resolved and workflow.patched(ONE_MAIL_PER_EVENT)):
            self._notify("outcome_recorded", ["raising", "receiving", f"{stage.id}.raising",
                                              f"{stage.id}.receiving"], actor=msg.by,
                         resolved=str(msg.resolved).lower(), summary=msg.summary)
        if msg.resolved:
            return await self._resolve(stage.id, msg)
        category = book.protocol.category_of_stage(stage.id)
        if category is not None and category.not_agreed is not None:
            return await self._first_steps_not_agreed(msg, via)
        route = book.protocol.policy_issues
        if (msg.policy_issue and route is not None
                and book.protocol.stage_index(route.stage) > book.protocol.stage_index(stage.id)
                and limits.policy_issues_taken(book, route)):
            await self._enter_stage(route.stage, f"significant policy issues ({route.source})",
                                    kind="escalated", actor=msg.by.name, via=via)
            return f"Not resolved; referred to stage {route.stage} because of policy issues."
        offered = book.protocol.referral_on_not_resolved(stage.id)
        if offered is not None:
            return await self._offer_referral(offered, msg.by.name, via)
        nxt = book.protocol.next_stage(stage.id)
        if nxt is None:
            self._close(f"Not resolved at the final stage ({stage.name}).")
            return "Not resolved at the final stage; the case is closed."
        await self._enter_stage(nxt.id, f"not resolved at stage {stage.id}", kind="escalated",
                                actor=msg.by.name, via=via)
        return f"Not resolved; the case moved to stage {nxt.id} ({nxt.name})."

    async def _first_steps_not_agreed(self, msg: RecordOutcome, via: str) -> str:
        """"Not agreed" after a category's first steps: the protocol's stages begin (Leeds
        Appendix 1 a), or a conference is to be convened, with the reasons recorded, and the
        case closes where the document sets nothing after it (Barnsley 3.9)."""
        book, now = self._book, workflow.now()
        category = first_steps.category_here(book)
        assert category is not None and category.not_agreed is not None
        rule = category.not_agreed
        if rule.leads_to == "process":
            first = book.protocol.stages[0]
            await self._enter_stage(first.id, f"{rule.text} ({rule.source})", kind="escalated",
                                    actor=msg.by.name, via=via)
            return f"Not agreed; the resolution process begins at stage {first.id} ({first.name})."
        book.event(now, "conference_to_be_convened",
                   f"Conference to be convened: {rule.text} Professional reasons for the final "
                   f"decision: {msg.reasons} ({rule.source})", actor=msg.by.name, via=via,
                   source=rule.source, reasons=msg.reasons)
        after = rule.after or ("What follows is not set by the document; the case closes "
                               "(the system's default).")
        self._close(f"Not agreed at the first steps ({category.label}): a conference is to be "
                    f"convened ({rule.source}). {after}")
        return f"Not agreed; a conference is to be convened ({rule.source}). {after}"

    async def _offer_referral(self, referral: Referral, actor: str, via: str) -> str:
        """"Not resolved" where the document reserves the next step for a decision (Dudley
        3b: the DSCB Independent Chair "in exceptional circumstances"): the case stays, with
        the decision awaited and reminded, until someone records it (``refer``)."""
        book, now = self._book, workflow.now()
        book.referral_open = referral.id
        for d in book.stage_deadlines():
            if d.live:
                d.status = "met"  # the stage's discussion ended with its outcome
        rules = book.protocol.reminders
        [a] = await self._compute([DeadlineQuery(key="nudge", clock_start=now,
                                                 working_days=rules.nudge_working_days)])
        key = f"{book.stage_id}/referral_{referral.id}"
        what = f"Decide whether to {referral.label[0].lower()}{referral.label[1:]}"
        book.deadlines[key] = DeadlineState(
            key=key, kind="stage", stage=book.stage_id, rule=f"referral_{referral.id}",
            what=what, who="The stage's role holders", timescale="a decision, no timescale",
            timescale_kind="none", on_expiry="remind", source=referral.source,
            clock_start=now, next_nudge=a.due if rules.max_nudges else None)
        book.event(now, "referral_offered",
                   f"Not resolved at stage {book.stage_id}: {referral.reason} "
                   f"({referral.source}). The case stays here until someone records the "
                   f"decision, with who decided and why.", actor=actor, via=via,
                   deadline=key, source=referral.source)
        self._upsert_progress()
        return (f"Not resolved; the case stays at stage {book.stage_id}: {what.lower()} "
                f"({referral.source}), and record who decided and why.")

    async def _do_refer(self, msg: Refer, via: str) -> str:
        book, now = self._book, workflow.now()
        referral = check.find_referral(book, msg.referral)
        who = ", ".join(msg.decided_by)
        book.referral_open = ""
        if not msg.refer:
            book.event(now, "referral_declined",
                       f"Decided not to {referral.label[0].lower()}{referral.label[1:]} "
                       f"(decided by {who}): {msg.reason}", actor=msg.by.name, via=via,
                       source=referral.source, decided_by=who)
            self._close(f"Not resolved at stage {book.stage_id}; not referred "
                        f"({referral.label}): {msg.reason} (decided by {who}).")
            return "Not referred; the case is closed, with who decided and why."
        book.event(now, "referred", f"{referral.label} (decided by {who}): {msg.reason}",
                   actor=msg.by.name, via=via, source=referral.source, decided_by=who,
                   referral=referral.id)
        await self._enter_stage(referral.to, f"{referral.reason} ({referral.source}); decided "
                                f"by {who}: {msg.reason}", kind="escalated",
                                actor=msg.by.name, via=via)
        return f"Referred; the case moved to stage {referral.to} ({book.stage.name})."

    async def _resolve(self, stage_id: str, msg: RecordOutcome) -> str:
        book, now = self._book, workflow.now()
        for d in book.deadlines.values():
            if d.live:
                d.status = "met"
        book.status = "resolved"
        stage = book.protocol.stage(stage_id)
        # A category's first steps (Leeds Appendix 1, Barnsley 3.8-3.9) come before the
        # process, whose duties after resolution are not theirs.
        after_process = ([] if book.protocol.category_of_stage(stage_id)
                         else book.protocol.post_resolution)
        duties = [*stage.on_resolution, *after_process]
        awaited: list[Duty] = [d for d in duties if d.keeps_case_open]
        queries = [DeadlineQuery(key=f"duty/{stage_id}/{d.id}", clock_start=now,
                                 timescale=d.timescale.model_dump() if d.timescale else None,
                                 with_reminder=True) for d in awaited]
        queries.append(DeadlineQuery(key="nudge", clock_start=now,
                                     working_days=book.protocol.reminders.nudge_working_days))
        answers = {a.key: a for a in await self._compute(queries)}
        for duty in awaited:
            a = answers[f"duty/{stage_id}/{duty.id}"]
            book.deadlines[a.key] = DeadlineState(
                key=a.key, kind="duty", stage=stage_id, rule=duty.id, what=duty.what,
                who=duty.who, timescale=duty.timescale.describe() if duty.timescale
                else "no timescale", timescale_kind=duty.timescale.kind if duty.timescale
                else "none", on_expiry="remind", source=duty.source, clock_start=now,
                due=a.due, remind_at=a.remind_at,
                next_nudge=answers["nudge"].due if a.due is None else None)
        book.event(now, "resolved", f"Resolved at stage {stage_id}: {msg.summary}",
                   actor=msg.by.name, source=stage.source)
        # Learning recorded at any stage is carried to the resolution and referred (issue 15);
        # cases that resolved before this referred the resolving outcome's only.
        learning = list(msg.learning_points)
        carried = limits.learning_carried(book)
        if carried != learning and workflow.patched("learning-carried-v1"):
            learning = carried
        for duty in duties:
            if duty.keeps_case_open:
                continue
            if duty.only_with_learning_points and not (learning or msg.policy_issue):
                continue
            to = ([f"contact:{duty.to}"] if duty.to in book.protocol.contacts
                  else ["raising", "receiving"])
            agreed = ""
            if duty.to_roles and workflow.patched(FEEDBACK_TO_ROLES):
                # Swindon s4 Stages 3-5: the action agreed, fed back at once to those named.
                to, agreed = list(duty.to_roles), msg.agreed_actions or msg.summary
            book.event(now, duty.kind, f"{duty.what} ({duty.who})"
                       + (f": {agreed}" if agreed else ""), source=duty.source)
            self._notify(duty.kind, to, cc=["raising"] if duty.to else [], duty=duty.id,
                         what=duty.what, learning_points="; ".join(learning),
                         agreed_actions=agreed)
        # Copies of the resolution (Leeds' LSCP, with Appendix 3's outcome half). A protocol
        # frozen before `on_resolution` existed has none, so its request is unchanged.
        copies = book.protocol.copies_for(stage_id, "on_resolution")
        pending = [d.what for d in book.awaited_duties()]
        one = workflow.patched(ONE_MAIL_PER_EVENT)
        self._notify("resolved", ["raising", "receiving", f"{stage_id}.raising",
                                  f"{stage_id}.receiving"],
                     cc=[f"contact:{c.contact}" for c in copies],
                     attach=sorted({c.attach for c in copies if c.attach}), summary=msg.summary,
                     **({"actor": msg.by, "closes": "" if pending else "true"} if one else {}))
        if not pending:
            self._close(f"Resolved at stage {stage_id}.", announced=one)
            return f"Resolved at stage {stage_id}; the case is closed."
        return f"Resolved at stage {stage_id}. Still due: {'; '.join(pending)}."

    async def _do_bypass(self, msg: Bypass, via: str) -> str:
        book = self._book
        if self._permissions.on and check.collects_agreement(book):
            still = self._agree_to_bypass(msg, via)
            if still:
                return (f"Your agreement to move to stage {msg.to_stage} is recorded; the case "
                        f"moves once {still} agree too.")
            agreed = list(dict.fromkeys(book.bypass_agreed.values()))
            msg = msg.model_copy(update={"agreed_by": agreed})
        who = ", ".join(msg.agreed_by) or msg.by.name
        self._book.event(workflow.now(), "bypass",
                         f"Bypass to stage {msg.to_stage} agreed by {who}: {msg.reason}",
                         actor=msg.by.name, via=via, urgent=str(msg.urgent).lower(),
                         agreement_of=", ".join(msg.agreement_of))
        await self._enter_stage(msg.to_stage, f"bypass: {msg.reason}", kind="escalated",
                                actor=msg.by.name, via=via)
        return f"The case moved to stage {msg.to_stage} ({self._book.stage.name})."

    def _agree_to_bypass(self, msg: Bypass, via: str) -> str:
        """Record the actor's agreement to a bypass everyone must agree to; who has still to
        agree ('' once all have)."""
        book = self._book
        if book.bypass_to != msg.to_stage:
            book.bypass_agreed, book.bypass_to = {}, msg.to_stage
        needed = check.needed_agreement(book, book.permission("bypass"))
        for key in check.acting_keys(book, msg.by):
            if key in needed:
                book.bypass_agreed[key] = msg.by.name
        still = check.names(s for k, s in needed.items() if k not in book.bypass_agreed)
        if still:
            book.event(workflow.now(), "bypass_agreed",
                       f"{msg.by.name} agreed to move the case to stage {msg.to_stage}: "
                       f"{msg.reason}. Still to agree: {still}", actor=msg.by.name, via=via)
        return still

    async def _do_pause(self, msg: Pause, via: str) -> str:
        book, now = self._book, workflow.now()
        book.status = "paused"
        book.paused_at = now
        book.paused_reason = msg.reason
        halting = book.protocol.halting
        book.event(now, "paused", f"Paused: {msg.reason}", actor=msg.by.name, via=via,
                   source=halting.source if halting else "")
        self._notify("paused", ["raising", "receiving"], actor=msg.by, reason=msg.reason)
        if halting is not None and limits.keeps_reminding(book):
            # Leeds s3 Stage 4 para 2: "resumed as soon as possible ... does not drift".
            book.resume_reminders = 0
            await self._schedule_resume_reminder(now)
        self._upsert_progress()
        return "The case is paused: its clocks stop until it is resumed."

    async def _schedule_resume_reminder(self, since: datetime) -> None:
        book = self._book
        rules = book.protocol.reminders
        every = (rules.nudge_working_days if book.resume_reminders < rules.max_nudges
                 else rules.then_every_working_days or rules.nudge_working_days)
        [answer] = await self._compute([DeadlineQuery(key="resume", clock_start=since,
                                                      working_days=every)])
        book.resume_remind_at = answer.due

    async def _remind_to_resume(self) -> None:
        """A paused case reminds the agency with the concern to resume it, and offers a
        hand-over (Leeds s3 Stage 4 para 2: "in cases of sickness a different person needs to
        take over the process"), for as long as it stays paused."""
        book, now = self._book, workflow.now()
        was_due = book.resume_remind_at
        book.resume_reminders += 1
        halting = book.protocol.halting
        what = (f"resume the case as soon as possible (paused since "
                f"{london(book.paused_at)}: {book.paused_reason}); if the person who holds it "
                f"is away, hand the role to someone else")
        book.event(now, "nudge", f"Reminder {book.resume_reminders}: {what}", via="timer",
                   source=halting.source if halting else book.protocol.reminders.source)
        self._notify("nudge", ["raising", f"{book.stage_id}.raising"], what=what,
                     who="The agency with the concern", nudge=str(book.resume_reminders))
        await self._schedule_resume_reminder(was_due or now)

    async def _do_resume(self, msg: Resume, via: str) -> str:
        book, now = self._book, workflow.now()
        paused_at = book.paused_at or now
        items: list[PauseShift] = []
        for d in book.deadlines.values():
            if not d.live:
                continue
            wall = self._wall_clock(d)
            for field in ("due", "remind_at", "next_nudge"):
                moment = getattr(d, field)
                if moment is not None:
                    items.append(PauseShift(key=f"{d.key}|{field}", moment=moment,
                                            wall_clock=wall))
        if items:
            answers = await self._calendar.shift(
                ShiftRequest(paused_at=paused_at, resumed_at=now, items=items))
            for a in answers:
                key, field = a.key.rsplit("|", 1)
                setattr(book.deadlines[key], field, a.due)
        book.status = "open"
        book.paused_at = None
        book.resume_remind_at = None
        reason = book.paused_reason
        book.paused_reason = ""
        book.event(now, "resumed", f"Resumed after pause ({reason}). {msg.note}".strip(),
                   actor=msg.by.name, via=via)
        self._notify("resumed", ["raising", "receiving"], actor=msg.by, reason=reason)
        nxt = book.next_deadline()
        self._upsert_progress()
        return ("Resumed; deadlines moved on by the working time the pause took. "
                f"Next deadline: {nxt.isoformat() if nxt else 'none'}.")

    def _wall_clock(self, d: DeadlineState) -> bool:
        if d.agreed is not None:
            return d.agreed.kind == "hours"
        return d.timescale_kind == "hours"

    async def _do_agree_timescale(self, msg: AgreeTimescale, via: str) -> str:
        book, now = self._book, workflow.now()
        d = check.find_agreeable(book, msg.deadline)
        # An agreed timescale counts from the moment it is agreed ("within 24 hours" said now),
        # but may not reach past the protocol's maximum counted from the stage's own clock.
        [a] = await self._compute([DeadlineQuery(key=d.key, clock_start=workflow.now(),
                                                 agreed=msg.timescale, with_reminder=True)])
        assert a.due is not None
        soft = limits.soft_max(book, d)
        beyond = d.latest_allowed is not None and a.due > d.latest_allowed
        if beyond and soft:
            timescale = limits.timescale_of(book, d)
            assert timescale is not None
            check.check_beyond_max(book, msg, d, timescale)
        elif beyond:
            check.reject(f"That would end on {a.due.isoformat()}, after the protocol's maximum "
                         f"({d.latest_allowed.isoformat()}, {d.source}).")
        extension = d.agreed is not None
        d.agreed = msg.timescale
        d.due, d.remind_at, d.reminded = a.due, a.remind_at, False
        d.status, d.next_nudge = "pending", None
        kind = "timescale_extended" if extension else "timescale_agreed"
        agreed_by = ", ".join(msg.agreed_by) or msg.by.name
        if soft:
            d.beyond_max = limits.beyond_max_note(msg.agreed_by, msg.reason, soft) if beyond \
                else ""
            if beyond:
                book.event(now, "timescale_beyond_max",
                           f"Timescale for '{d.what}' is longer than the document asks for where "
                           f"possible ({d.timescale}, {d.source}): {d.beyond_max}",
                           actor=msg.by.name, via=via, deadline=d.key, source=soft)
        book.event(now, kind, f"Timescale for '{d.what}' {'extended' if extension else 'agreed'}"
                   f": {msg.timescale.describe()}, due {a.due.isoformat()} (agreed by "
                   f"{agreed_by})", actor=msg.by.name, via=via, reason=msg.reason,
                   deadline=d.key, due=a.due.isoformat())
        self._notify(kind, self._parties_for(d), deadline_key=d.key, actor=msg.by,
                     reason=msg.reason, agreed_by=agreed_by)
        self._upsert_progress()
        return f"'{d.what}' is now due {a.due.isoformat()}."

    async def _do_assign(self, msg: Assign, via: str) -> str:
        book, now = self._book, workflow.now()
        before = book.holder_label(msg.role) or "nobody named"
        book.holders[msg.role] = msg.person
        # The role and the new holder's address as data: the web app dates a hand-over from
        # them, so a previous holder's link stops opening the case (starter.web.roles). Behind
        # a patch, so cases recorded before keep telling the same story on replay.
        held = ({"role": msg.role, "email": msg.person.email.strip().lower()}
                if workflow.patched("role-assigned-details") else {})
        book.event(now, "role_assigned", f"{msg.role} is now held by {msg.person.label()} "
                   f"(was {before}). {msg.reason}".strip(), actor=msg.by.name, via=via,
                   **held)
        self._notify("role_assigned", [msg.role], actor=msg.by, role=msg.role,
                     reason=msg.reason)
        return f"{msg.person.label()} now holds the role {msg.role}."

    async def _do_confirm_in_writing(self, msg: ConfirmInWriting, via: str) -> str:
        book, now = self._book, workflow.now()
        awaited = book.awaited_duties()
        duty = next(d for d in awaited if not msg.duty or d.rule == msg.duty)
        duty.status = "met"
        book.event(now, "confirmed_in_writing", f"{duty.what}: done. {msg.summary}".strip(),
                   actor=msg.by.name, via=via, duty=duty.rule)
        closes = not book.awaited_duties()
        one = closes and workflow.patched(ONE_MAIL_PER_EVENT)
        self._notify("confirmed_in_writing", ["raising", "receiving"], actor=msg.by,
                     what=duty.what, summary=msg.summary, closes="true" if one else "")
        if closes:
            self._close("Resolved; the outcome was confirmed in writing.", announced=one)
            return "Confirmed in writing; the case is closed."
        return f"Recorded: {duty.what}."

    async def _do_close_unconfirmed(self, msg: CloseUnconfirmed, via: str) -> str:
        """Close a resolved case without the written confirmation it awaits, recording who
        decided and why (issue 15: it never lapses silently). A new action: no saved history
        has it; the marker tells any worker that replays it that it ran with this code."""
        book, now = self._book, workflow.now()
        workflow.patched(CLOSE_UNCONFIRMED)
        awaited = limits.awaited_confirmations(book)
        what = "; ".join(d.what for d in awaited)
        who = ", ".join(n for n in msg.decided_by if n.strip()) or msg.by.name
        book.event(now, "closed_unconfirmed",
                   f"Closed without written confirmation ({what}): {msg.reason} (decided by "
                   f"{who})", actor=msg.by.name, via=via, decided_by=who, reason=msg.reason,
                   duties=", ".join(d.rule for d in awaited),
                   source="; ".join(dict.fromkeys(d.source for d in awaited)))
        for d in awaited:
            d.status = "cancelled"
        still = [d.what for d in book.awaited_duties()]
        if still:  # other duties (e.g. learning to disseminate) still keep the case open
            self._upsert_progress()
            return (f"Recorded: no written confirmation, with who decided and why. Still due: "
                    f"{'; '.join(still)}.")
        self._close(f"Resolved; closed without written confirmation: {msg.reason} (decided by "
                    f"{who}).")
        return "The case is closed without written confirmation, recording who decided and why."

    async def _do_report_immediate_risk(self, msg: ReportImmediateRisk, via: str) -> str:
        book = self._book
        book.immediate_risk = True
        self._alarm(msg.description, msg.by.name, via=via)
        entry = book.protocol.risk_route.entry_stage
        if (entry and book.status == "open"
                and book.protocol.stage_index(book.stage_id) < book.protocol.stage_index(entry)):
            source = book.protocol.risk_route.source
            await self._enter_stage(entry, f"immediate risk ({source})",
                                    kind="escalated", actor=msg.by.name, via=via)
            return f"Alarm sent; the case moved to stage {entry} ({book.stage.name})."
        return "Alarm sent to the protocol's immediate-risk route."

    async def _do_withdraw(self, msg: Withdraw, via: str) -> str:
        book, now = self._book, workflow.now()
        book.event(now, "withdrawn", f"Withdrawn: {msg.reason}", actor=msg.by.name, via=via)
        self._close(f"Withdrawn: {msg.reason}", status="withdrawn")
        return "The case is withdrawn and closed."

    async def _do_set_legal_hold(self, msg: LegalHold, via: str) -> str:
        book = self._book
        book.legal_hold = msg.on
        book.event(workflow.now(), "legal_hold",
                   f"Legal hold {'placed' if msg.on else 'lifted'}: {msg.reason}",
                   actor=msg.by.name, via=via)
        return ("The case is on legal hold: it will not be purged." if msg.on
                else "Legal hold lifted: the case follows its retention class again.")

    async def _do_record_discussion(self, msg: RecordDiscussion, via: str) -> str:
        """Record a discussion or contact: a record and a timeline event, nothing else (the
        stage, its deadlines and timers stay as they are)."""
        book, now = self._book, workflow.now()
        record = Discussion(
            stage=msg.stage or book.stage_id, at=msg.at or now, recorded_at=now,
            with_name=msg.with_name, with_title=msg.with_title, with_agency=msg.with_agency,
            method=msg.method, said=msg.said, agreed=msg.agreed, approved_by=msg.approved_by,
            by=msg.by)
        book.discussions.append(record)
        met = limits.met_by_discussion(book, record)
        how = CONTACT_METHODS[msg.method]
        book.event(now, "discussion_recorded",
                   f"Discussion ({how.lower()}, {london(record.at)}) with "
                   f"{record.with_whom()}: {msg.said}"
                   + (f" Agreed: {msg.agreed}" if msg.agreed else ""),
                   actor=msg.by.name, via=via, stage=record.stage,
                   at=record.at.isoformat(), method=msg.method,
                   approved_by=msg.approved_by)
        for d in met:
            d.status = "met"
            book.event(now, "step_done", f"{d.what}: done, by the {how.lower()} of "
                       f"{london(record.at)} with {record.with_whom()}.", actor=msg.by.name,
                       via=via, stage=d.stage or book.stage_id, deadline=d.key, source=d.source)
        if met:
            self._upsert_progress()
        return (f"Recorded the discussion of {london(record.at)} with {record.with_whom()} "
                f"at stage {record.stage}; the case stays at stage {book.stage_id}."
                + "".join(f" It meets '{d.what}'." for d in met))

    async def _do_mark_step_done(self, msg: MarkStepDone, via: str) -> str:
        """Record a reminding deadline as met: its status is "met", so the wake loop (which
        looks only at live deadlines) sets no timer for it and sends no reminder or nudge."""
        book, now = self._book, workflow.now()
        d = check.find_markable(book, msg.deadline)
        d.status = "met"
        who = ", ".join(msg.done_by) or msg.by.name
        book.event(now, "step_done", f"{d.what}: done (by {who}). {msg.note}".strip(),
                   actor=msg.by.name, via=via, stage=d.stage or book.stage_id,
                   deadline=d.key, done_by=who, source=d.source)
        self._upsert_progress()
        return f"Recorded as done: {d.what}."

    def _met_by_sending(self, request: NotificationRequest | MailEvent,
                        result: NotificationResult) -> None:
        """A stage deadline the protocol says is met by sending a form (Swindon's Stage 5
        referral with Appendix 1) is met once the stage-entry e-mail carrying it has reached
        the form's addressee. Only protocols that say so (``met_by_sending``) are affected."""
        book = self._book
        if request.event not in ("stage_entered", "case_raised") or not result.sent_to:
            return
        stage = book.protocol.stage(request.stage or book.stage_id)
        addressed = {*request.to, *request.cc}
        for rule in stage.deadlines:
            form = next((f for f in stage.forms if f.kind == rule.met_by_sending), None)
            d = book.deadlines.get(f"{stage.id}/{rule.id}")
            if form is None or d is None or not d.live or form.kind not in request.attach_forms:
                continue
            contact = book.protocol.contacts.get(form.to)
            if (f"contact:{form.to}" not in addressed
                    or (contact is not None and contact.name in result.missing)):
                continue
            if not workflow.patched("met-by-sending-form"):
                return
            d.status = "met"
            book.event(workflow.now(), "step_done",
                       f"{d.what}: done, the {form.title} was sent with the e-mail "
                       f"'{result.subject or request.event}'.", stage=stage.id,
                       deadline=d.key, source=d.source)
            self._upsert_progress()
            self._wake = True

    # -- helpers ------------------------------------------------------------------------------
    def _alarm(self, description: str, actor: str, via: str = "system") -> None:
        book, now = self._book, workflow.now()
        route = book.protocol.risk_route
        workflow.logger.warning("case %s: immediate risk reported; alarm sent", book.workflow_id)
        book.event(now, "immediate_risk", f"IMMEDIATE RISK: alarm raised to "
                   f"{' → '.join(route.route)}", actor=actor, via=via, source=route.source)
        stage = book.stage_id
        to = ["raising", f"{stage}.raising", "receiving"]
        if book.protocol.immediate_risk is None:
            # The document names no route (Dudley): at once to the case's practitioners and
            # every manager and safeguarding lead named on it, of both sides (issue 15). Only
            # protocols frozen without a route come here, so no saved history changes.
            to += [f"{stage}.receiving", *(k for k in book.holders if k not in to)]
        self._notify("immediate_risk", to,
                     cc=[f"contact:{c}" for c in route.notify_contacts],
                     description=description, route=" → ".join(route.route),
                     instruction=route.instruction)

    def _close(self, summary: str, status: str = "closed", *, announced: bool = False) -> None:
        """Close the case; ``announced``: the e-mail of the event that closed it already says
        so (one e-mail per event per person), so no separate "case closed" e-mail."""
        book, now = self._book, workflow.now()
        for d in book.deadlines.values():
            if d.live:
                d.status = "cancelled"
        book.status = status  # type: ignore[assignment]
        book.closed_at = now
        book.closing_summary = summary
        book.event(now, "closed", summary)
        workflow.logger.info("case %s: %s at stage %s", book.workflow_id, status, book.stage_id)
        if not announced:
            self._notify("closed", ["raising", "receiving"], summary=summary)
        self._upsert_progress()
        self._wake = True

    def _parties_for(self, d: DeadlineState) -> list[str]:
        if d.kind == "duty":
            return ["raising", "receiving"]
        stage = d.stage or self._book.stage_id
        rule = next((r for r in self._book.protocol.stage(stage).deadlines
                     if r.id == d.rule), None) if d.kind == "stage" else None
        if rule is not None and rule.holders_of:
            # The duty falls to an earlier stage's people (Leeds Step 3b: Heads of Service).
            stage = rule.holders_of
        return [f"{stage}.raising", f"{stage}.receiving"]

    async def _compute(self, queries: list[DeadlineQuery]) -> list[DeadlineAnswer]:
        return await self._calendar.compute(queries)

    def _mail_by_query(self) -> bool:
        """Whether e-mails go as a small :class:`MailEvent` (``send_case_email``, which reads
        the record by query) rather than the whole record (``send_notification``). A saved
        history's e-mails replay as they were scheduled; a running case switches at its next
        e-mail (one patch id per e-mail until the first new one, as _permissions_apply)."""
        return self._mail_small()

    def _notify(self, event: str, to: list[str], *, cc: list[str] | None = None,
                attach: list[str] | None = None, deadline_key: str | None = None,
                actor: Any = None, **extra: str) -> None:
        """Send an e-mail in the background: retried by Temporal, never blocking the case.

        The activity's input names the event, its role keys and ids; the case record it is
        rendered from stays in the workflow (``mail_record``), kept as it stood at this event
        until the e-mail is sent, so the history grows by a bounded amount per e-mail."""
        if self._held is not None:
            self._held.append(HeldMail(event=event, to=to, cc=cc or [], attach=attach or [],
                                       deadline_key=deadline_key, extra=extra))
            return
        book, now = self._book, workflow.now()
        self._mail_seq += 1
        stage = book.stage_id
        copies = [f"contact:{c.contact}"
                  for c in book.protocol.copies_for(stage, "every_communication")]
        key = f"{self._mail_seq:04d}-{event}"
        if self._mail_by_query():
            texts = {k: v for k, v in extra.items() if v}
            # Short values (a stage id, a nudge's number) go in the input; texts people typed
            # (a reason) stay in the record, so no input carries free text.
            longer = {k: v for k, v in texts.items() if len(v) > MAIL_SHORT}
            small = MailEvent(
                workflow_id=book.workflow_id,
                first_run_id=workflow.info().first_execution_run_id, event=event,
                event_key=key, stage=stage, to=list(dict.fromkeys(to)),
                cc=list(dict.fromkeys([*(cc or []), *copies])), attach_forms=attach or [],
                deadline_key=deadline_key, actor=actor,
                extra={k: v for k, v in texts.items() if k not in longer},
                protocol_id=book.protocol.id, protocol_hash=book.inp.protocol_hash)
            self._mail_records[key] = (book.snapshot(now), len(book.timeline), longer)
            self._mail.append(asyncio.create_task(self._send(small, "send_case_email")))
            return
        request = NotificationRequest(
            workflow_id=book.workflow_id, event=event, event_key=key,
            stage=stage, to=list(dict.fromkeys(to)),
            cc=list(dict.fromkeys([*(cc or []), *copies])), attach_forms=attach or [],
            deadline_key=deadline_key, actor=actor, extra={k: v for k, v in extra.items() if v},
            # The protocol goes by id and hash, and the timeline without e-mail receipts: each
            # request would otherwise carry ~10 KB of protocol and grow with every e-mail sent.
            protocol_id=book.protocol.id, protocol_hash=book.inp.protocol_hash,
            case=book.inp.case, state=book.snapshot(now),
            timeline=[e for e in book.timeline if e.via != "activity"])
        self._mail.append(asyncio.create_task(self._send(request, "send_notification")))

    async def _send(self, request: NotificationRequest | MailEvent, activity: str) -> None:
        book = self._book
        try:
            result = await workflow.execute_activity(
                activity, request, result_type=NotificationResult,
                start_to_close_timeout=NOTIFY_TIMEOUT, schedule_to_close_timeout=NOTIFY_GIVE_UP,
                heartbeat_timeout=NOTIFY_HEARTBEAT, retry_policy=NOTIFY_RETRY)
        except ActivityError as err:
            self._mail_records.pop(request.event_key, None)
            book.event(workflow.now(), "notification_failed",
                       f"E-mail '{request.event}' could not be sent: {err.cause or err}",
                       via="activity", stage=request.stage, event_key=request.event_key)
            return
        book.event(workflow.now(), "notification_sent",
                   f"E-mail '{result.subject or request.event}' sent to "
                   f"{', '.join(result.sent_to) or 'nobody'}", via="activity",
                   stage=request.stage, event_key=request.event_key,
                   message_id=result.message_id)
        self._mail_records.pop(request.event_key, None)
        self._met_by_sending(request, result)
        for missing in result.missing:
            note = f"{request.event}: {missing} not notified, address missing"
            book.not_notified.append(note)
            book.event(workflow.now(), "not_notified", note, via="activity",
                       stage=request.stage, event_key=request.event_key)

    def _upsert_progress(self) -> None:
        book = self._book
        if not book.inp.search_attributes:
            return
        nxt = book.next_deadline()
        workflow.upsert_search_attributes([
            sa.CASE_STAGE.value_set(book.stage_id),
            sa.CASE_STATUS.value_set(book.status),
            sa.CASE_OVERDUE.value_set(book.overdue(workflow.now())
                                      or limits.any_drifting(book)),
            sa.CASE_NEXT_DEADLINE.value_set(nxt) if nxt else sa.CASE_NEXT_DEADLINE.value_unset(),
        ])

    # -- messages: every action of protocols.actions, as an update and a signal ------------
    def _validate(self, action: ActionSpec, msg: Any, *, permissions: bool = True,
                  handler: bool = False) -> None:
        _well_formed(msg, action.model)
        if self._opened:
            # The agreed count's bounds (issue 16): validators always; handlers (which replay)
            # behind a patch, as a running case may have accepted 0 hours before the rule.
            if action.id == "agree_timescale" and (not handler
                                                   or workflow.patched(AGREED_BOUNDS)):
                check.check_agreed_bounds(self._book, msg)
            check.run(self._book, action.id, msg, workflow.now(), permissions=permissions)
            # One person, one side (protocols.oneside): validators always refuse it; handlers
            # (which replay) from the first message that needs it, behind a patch marker.
            crossed = check.crossed_sides(self._book, action.id, msg)
            if crossed and (not handler or workflow.patched("one-person-one-side")):
                check.reject(crossed, "person.email")

    def _permissions_apply(self) -> bool:
        """Whether a handler checks who may act. Validators always do (they never run on
        replay); handlers run on replay too, so a message a saved history accepted before the
        checks existed must replay as it ran. One patch marker per message until the first
        that ran with the checks: ``patched`` remembers its answer per id, so one shared id
        would stay False for good in a case whose earlier messages predate the checks."""
        return self._permissions()

    def _doer(self, action: ActionSpec) -> Callable[[Any, str], Awaitable[str]]:
        return getattr(self, f"_do_{action.id}")

    async def _apply_update(self, action: ActionSpec, msg: Any) -> ActionResult:
        await workflow.wait_condition(lambda: self._opened)
        async with self._lock:
            # Again: the case may have moved on while this waited for the lock.
            self._validate(action, msg, permissions=self._permissions_apply(), handler=True)
            text = await self._doer(action)(msg, "update")
            self._rate.record(workflow.now())
        self._wake = True
        return ActionResult(message=text, brief=self._book.brief(workflow.now()))

    async def _apply_signal(self, action: ActionSpec, raw: Any) -> None:
        await workflow.wait_condition(lambda: self._opened)
        name = action.id
        async with self._lock:
            now = workflow.now()
            if self._rate.refusal(now) and self._rate_applies():
                self._refused_signal(now, f"{name} refused: {self._rate.refusal(now)}")
                return
            try:
                msg = action.model.model_validate(raw)
            except ValidationError as err:
                problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                     for e in err.errors()[:5])
                self._refused_signal(now, f"{name} refused (malformed): {problems}")
                return
            try:
                self._validate(action, msg, permissions=self._permissions_apply(), handler=True)
                # Some refusals need an activity's answer first (an agreed timescale checked
                # against the protocol's maximum); they are refused the same way, before the
                # handler has changed anything. Raised out of a signal, they would fail the case.
                await self._doer(action)(msg, "signal")
            except ApplicationError as err:
                if err.type != check.REJECTED:
                    raise
                actor = getattr(getattr(msg, "by", None), "name", "unknown")
                self._refused_signal(workflow.now(), f"{name} refused: {err.message}", actor)
                return
            self._rate.record(workflow.now())
        self._wake = True

    def _refused_signal(self, now: datetime, summary: str, actor: str = "system") -> None:
        """Record a refused signal while refusals stay within the case's daily cap; past it
        the refusal is dropped (it changed nothing; only Temporal's history keeps it)."""
        if self._refusals.refusal(now):
            return
        self._refusals.record(now)
        self._book.event(now, "rejected", summary, actor=actor, via="signal")

    # -- queries ------------------------------------------------------------------------------
    @workflow.query
    def state(self) -> CaseState:
        return self._book.snapshot(workflow.now())

    @workflow.query
    def timeline(self) -> list[TimelineEvent]:
        return list(self._book.timeline)

    @workflow.query
    def mail_record(self, event_key: str) -> MailRecord:
        """What the e-mail of ``event_key`` is rendered from: the case as it stood at that
        event while the e-mail is unsent, else (``as_of_event`` False) as it stands now. The
        timeline leaves out the e-mail receipts, as the whole record sent to the activity did."""
        book = self._book
        held = self._mail_records.get(event_key)
        state, upto, longer = held or (book.snapshot(workflow.now()), len(book.timeline), {})
        return MailRecord(case=book.inp.case, state=state,
                          timeline=[e for e in book.timeline[:upto] if e.via != "activity"],
                          extra=longer, as_of_event=held is not None)

    @workflow.query
    def case_input(self) -> CaseInput:
        """What the case was raised with (its details and frozen protocol), for forms."""
        return self._book.inp


def _well_formed(msg: object, model: type[BaseModel]) -> None:
    """Refuse an update whose payload is not the message it names (e.g. a null sent by a
    client other than ours): its handler would fail the workflow task and stall the case."""
    if not isinstance(msg, model):
        check.reject(f"The message is malformed: expected {model.__name__}.")
