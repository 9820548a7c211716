"""The case book: a case's mutable record inside the workflow.

Plain deterministic data handling (no I/O, no clock: ``now`` is always passed in), so the
workflow stays small and the same logic can be exercised without a server.
"""

from __future__ import annotations

from datetime import datetime

from protocols.caserecord import agency_side, carried_from, role_holder, role_title
from protocols.messages import (
    CarriedCase,
    CaseBrief,
    CaseInput,
    CaseState,
    CaseStatus,
    DeadlineBrief,
    DeadlineState,
    Discussion,
    Outcome,
    Person,
    TimelineEvent,
)
from protocols.naming import unreached_roles
from protocols.permissions import SIDES, Effective, Seat, rule_for, seats
from protocols.schema import Protocol, Stage
from workflows import limits
from workflows.shared import shared_protocol

CLOSED_STATUSES: tuple[CaseStatus, ...] = ("closed", "withdrawn")


class CaseBook:
    def __init__(self, inp: CaseInput, workflow_id: str, now: datetime) -> None:
        # One parsed protocol per distinct frozen protocol, not per case (workflows.shared).
        inp.protocol = shared_protocol(inp.protocol)
        self.inp = inp
        self.protocol: Protocol = inp.protocol
        self.workflow_id = workflow_id
        self.status: CaseStatus = "open"
        self.stage_id: str = inp.protocol.stages[0].id
        self.stage_entered_at: datetime = now
        self.stages_visited: list[str] = []
        self.deadlines: dict[str, DeadlineState] = {}
        self.timeline: list[TimelineEvent] = []
        self.holders: dict[str, Person] = {
            "raising": inp.case.raising.person(),
            "receiving": inp.case.receiving.person(),
            **inp.case.holders,
        }
        self.outcomes: list[Outcome] = []
        self.discussions: list[Discussion] = []
        self.immediate_risk = inp.urgency == "immediate-risk"
        self.paused_at: datetime | None = None
        self.paused_reason = ""
        # While paused where the protocol provides halting: when the next reminder to resume
        # goes out, and how many have (workflows.limits; issue 15).
        self.resume_remind_at: datetime | None = None
        self.resume_reminders = 0
        # A referral decision "not resolved" offered and nobody has taken yet (Dudley 3b).
        self.referral_open = ""
        self.not_notified: list[str] = []
        self.closed_at: datetime | None = None
        self.closing_summary = ""
        self.legal_hold = inp.case.legal_hold
        # A bypass needing everyone's agreement (protocols.permissions, agreement = "all"):
        # who has agreed so far, by role key, for the move to which stage (reset on each move).
        self.bypass_agreed: dict[str, str] = {}
        self.bypass_to = ""
        if inp.carried is not None:
            self.restore(inp.carried)

    # -- continue-as-new ------------------------------------------------------------------------
    CARRIED = ("status", "stage_id", "stage_entered_at", "stages_visited", "timeline", "holders",
               "outcomes", "discussions", "immediate_risk", "paused_at", "paused_reason",
               "not_notified", "legal_hold", "bypass_agreed", "bypass_to", "resume_remind_at",
               "resume_reminders", "referral_open")

    def restore(self, carried: CarriedCase) -> None:
        """Take up the record a previous run of the case carried into this one."""
        for name in self.CARRIED:
            setattr(self, name, getattr(carried, name))
        self.deadlines = {d.key: d for d in carried.deadlines}

    def carry(self, runs: list[str], mail_seq: int, recent: list[datetime]) -> CarriedCase:
        """The record to carry into the case's next run (see ``restore``)."""
        return CarriedCase(runs=runs, deadlines=list(self.deadlines.values()),
                           mail_seq=mail_seq, recent_actions=recent,
                           **{name: getattr(self, name) for name in self.CARRIED})

    # -- reading ------------------------------------------------------------------------------
    @property
    def stage(self) -> Stage:
        return self.protocol.stage(self.stage_id)

    @property
    def closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    def stage_deadlines(self, stage_id: str | None = None) -> list[DeadlineState]:
        stage_id = stage_id or self.stage_id
        return [d for d in self.deadlines.values() if d.kind == "stage" and d.stage == stage_id]

    def awaited_duties(self) -> list[DeadlineState]:
        return [d for d in self.deadlines.values() if d.kind == "duty" and d.live]

    def overdue(self, now: datetime) -> bool:
        return any(d.live and d.due is not None and d.due <= now for d in self.deadlines.values())

    def next_deadline(self) -> datetime | None:
        dues = [d.due for d in self.deadlines.values() if d.live and d.due is not None]
        return min(dues) if dues else None

    def next_wake(self) -> datetime | None:
        """The earliest instant something is due: a reminder, a deadline or a nudge."""
        if self.status == "paused":
            return self.resume_remind_at
        if self.closed:
            return None
        moments: list[datetime] = []
        for d in self.deadlines.values():
            if d.status in ("pending", "awaiting_agreement"):
                if d.remind_at is not None and not d.reminded:
                    moments.append(d.remind_at)
                if d.due is not None:
                    moments.append(d.due)
            if d.live and d.next_nudge is not None:
                moments.append(d.next_nudge)
        return min(moments) if moments else None

    def seats(self) -> dict[str, Seat]:
        """Every role on the case with the person in it (protocols.permissions.seats). A stage
        role nobody is named for is held, where the protocol carries holders forward, by whoever
        was named for the same role earlier (Dudley: the Head teacher deals with stages 2 and
        3), else by the practitioner of the agency that holds it (Swindon stage 1: the
        raiser's)."""
        ladder = self.protocol.ladder(self.inp.case.category)  # with a category's first steps
        out = seats(self.holders, [s.id for s in ladder])
        for stage in ladder:
            for side in SIDES:
                key = f"{stage.id}.{side}"
                seat = out.get(key)
                if seat is None:
                    continue
                own = agency_side(stage, side)
                mine = "" if own == side else own
                if not seat.stand_in:
                    out[key] = Seat(key, seat.person, side=mine)
                    continue
                carried = (carried_from(self.protocol, self.inp.case, self, stage, side)
                           if self.protocol.holders_carried_forward else None)
                if carried is not None:
                    out[key] = Seat(key, carried[1], side=mine)
                elif mine and own in self.holders:
                    out[key] = Seat(key, self.holders[own], stand_in=True, side=mine)
        return out

    def permission(self, action: str, stage: str | None = None, of: str = "") -> Effective:
        """The permission rule for ``action`` at ``stage`` (default: the current stage), for
        ``of`` (the duty confirmed, the role handed over)."""
        return rule_for(action, stage or self.stage_id, of=of,
                        deployment=self.inp.permissions, document=self.protocol.permissions)

    def holder_label(self, key: str) -> str:
        person = self.holders.get(key)
        return person.label() if person else ""

    def stage_holder_label(self, stage: Stage, side: str) -> str:
        """Who holds a side of a stage: named for it, or for the same role earlier on."""
        if not self.protocol.holders_carried_forward:
            return self.holder_label(f"{stage.id}.{side}")
        person = role_holder(self.protocol, self.inp.case, self, stage, side)
        return person.label() if person else ""

    def role_title(self, stage: Stage, side: str) -> str:
        """The role for a side of a stage, taking routing variants into account."""
        return role_title(self.protocol, self.inp.case, stage, side, with_side=False)

    def expected_next(self, now: datetime) -> list[str]:
        if self.closed:
            return []
        if self.status == "paused":
            return [f"Resume the case when possible (paused: {self.paused_reason})"]
        if self.status == "resolved":
            return [f"{d.who}: {d.what}" for d in self.awaited_duties()]
        lines = []
        stage = self.stage
        for d in self.stage_deadlines():
            if not d.live:
                continue
            if d.status == "awaiting_agreement":
                lines.append(f"{d.who}: agree a timescale for '{d.what}'")
            else:
                lines.append(f"{d.who}: {d.what}")
        raising = self.stage_holder_label(stage, "raising")
        receiving = self.stage_holder_label(stage, "receiving")
        lines.append(
            "Record the outcome of stage "
            f"{stage.id}: {self.role_title(stage, 'raising')}"
            f"{' (' + raising + ')' if raising else ''} with "
            f"{self.role_title(stage, 'receiving')}{' (' + receiving + ')' if receiving else ''}"
        )
        return lines

    # -- writing ------------------------------------------------------------------------------
    def event(
        self,
        now: datetime,
        kind: str,
        summary: str,
        *,
        actor: str = "system",
        via: str = "system",
        stage: str | None = None,
        **details: str,
    ) -> TimelineEvent:
        ev = TimelineEvent(
            seq=len(self.timeline) + 1,
            at=now,
            kind=kind,
            stage=stage if stage is not None else self.stage_id,
            actor=actor,
            summary=summary,
            via=via,  # type: ignore[arg-type]
            details={k: v for k, v in details.items() if v},
        )
        self.timeline.append(ev)
        return ev

    def cancel_stage_deadlines(self, stage_id: str) -> None:
        for d in self.stage_deadlines(stage_id):
            if d.live:
                d.status = "cancelled" if d.status != "expired" else "breached"

    def snapshot(self, now: datetime) -> CaseState:
        stage = self.stage
        state = CaseState(
            workflow_id=self.workflow_id,
            reference=self.inp.case.reference,
            protocol=self.protocol.id,
            protocol_hash=self.inp.protocol_hash,
            partnership=self.protocol.partnership,
            status=self.status,
            urgency=self.inp.urgency,
            stage=stage.id,
            stage_name=stage.name,
            stage_entered_at=self.stage_entered_at,
            stages_visited=list(self.stages_visited),
            immediate_risk=self.immediate_risk,
            paused_reason=self.paused_reason,
            deadlines=[d.model_copy() for d in self.deadlines.values()],
            expected_next=self.expected_next(now),
            holders=dict(self.holders),
            outcomes=list(self.outcomes),
            discussions=list(self.discussions),
            not_notified=list(self.not_notified),
            closed_at=self.closed_at,
            closing_summary=self.closing_summary,
            retention_class=self.inp.case.retention_class,
            legal_hold=self.legal_hold,
            flags=limits.flags(self, now),
            open_referral=self.referral_open,
        )
        # Who owns a live deadline now but cannot be e-mailed: for the actor and the business
        # unit (the case page's banner, the CLI's warning, a dashboard reading the state).
        found = unreached_roles(self.protocol, self.inp.case, state)
        state.unreached = [line for _, line in found]
        state.unreached_roles = [key for key, _ in found]
        return state

    def brief(self, now: datetime) -> CaseBrief:
        """The case's position and what is due next: what an accepted update returns."""
        stage, snap = self.stage, self.snapshot(now)
        return CaseBrief(
            workflow_id=self.workflow_id, partnership=self.protocol.partnership,
            status=self.status, urgency=self.inp.urgency, stage=stage.id, stage_name=stage.name,
            stage_entered_at=self.stage_entered_at, immediate_risk=self.immediate_risk,
            paused_reason=self.paused_reason,
            deadlines=[DeadlineBrief(key=d.key, what=d.what, who=d.who, timescale=d.timescale,
                                     source=d.source, status=d.status, due=d.due)
                       for d in self.deadlines.values() if d.live],
            expected_next=self.expected_next(now), closed_at=self.closed_at,
            closing_summary=self.closing_summary,
            unreached=snap.unreached, unreached_roles=snap.unreached_roles,
            flags=snap.flags)
