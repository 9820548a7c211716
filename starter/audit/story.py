"""A case's story, read from its own record: stages, deadlines, who acted, what happened.

Everything here is derived from a :class:`AuditedCase` (state and timeline as the workflow wrote
them, see :mod:`.rebuild`); nothing is re-decided. A *breach* is a deadline that passed before
the outcome it asked for: the workflow writes a ``deadline_passed`` event exactly then.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field, computed_field

from protocols.messages import DeadlineState, Outcome, TimelineEvent
from starter.audit.attention import attention, closed_unconfirmed
from starter.audit.audited_case import AuditedCase, Check
from starter.audit.facts import Fact

MOVES = ("stage_entered", "escalated")
ENDINGS = ("resolved", "closed", "withdrawn")
_BYPASS = re.compile(r"^Bypass to stage (\S+) agreed by (.*?): (.*)$", re.DOTALL)


class DeadlineRow(BaseModel):
    key: str
    kind: str
    stage: str | None
    what: str
    who: str
    timescale: str
    source: str
    clock_start: datetime
    due: datetime | None
    status: str
    agreed: str = ""
    passed_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def breached(self) -> bool:
        return self.passed_at is not None or self.status in ("expired", "breached")


class Act(BaseModel):
    """Someone (or the system on their behalf) doing something, and when."""

    at: datetime
    stage: str | None
    kind: str
    actor: str
    via: str
    summary: str


class StageStory(BaseModel):
    stage: str
    name: str
    opened: datetime
    closed: datetime | None
    entered: str  # how the case came here: the move's own summary
    deadlines: list[DeadlineRow] = Field(default_factory=list)
    acts: list[Act] = Field(default_factory=list)
    outcomes: list[Outcome] = Field(default_factory=list)
    notifications: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def breached(self) -> bool:
        return any(d.breached for d in self.deadlines)


class PauseSpan(BaseModel):
    stage: str | None
    paused_at: datetime
    resumed_at: datetime | None
    reason: str
    by: str
    resumed_by: str = ""


class BypassRow(BaseModel):
    at: datetime
    from_stage: str | None
    to_stage: str
    by: str
    agreed_by: str
    agreement_of: str
    reason: str
    via: str


class Story(BaseModel):
    workflow_id: str
    reference: str
    protocol: str
    partnership: str
    protocol_hash: str
    urgency: str
    status: str
    execution_status: str
    category: str
    raising_agency: str
    receiving_agency: str
    raised_at: datetime
    closed_at: datetime | None
    current_stage: str
    source: str
    checks: list[Check]
    stages: list[StageStory]
    overall: list[DeadlineRow]
    duties: list[DeadlineRow]
    bypasses: list[BypassRow]
    pauses: list[PauseSpan]
    extensions: list[Act]
    notifications: list[Act]
    not_notified: list[str]
    breaches: list[DeadlineRow]
    timeline: list[TimelineEvent]
    facts: list[Fact] = Field(default_factory=list)
    # What needs a person's eye (.attention), and how the case closed (its closing summary).
    attention: list[str] = Field(default_factory=list)
    closing: str = ""
    closed_unconfirmed: str = ""

    @property
    def ended_at(self) -> datetime:
        return self.closed_at or max([e.at for e in self.timeline] or [self.raised_at])


def _deadline_row(d: DeadlineState, passed: dict[str, datetime]) -> DeadlineRow:
    return DeadlineRow(
        key=d.key, kind=d.kind, stage=d.stage, what=d.what, who=d.who, timescale=d.timescale,
        source=d.source, clock_start=d.clock_start, due=d.due, status=d.status,
        agreed=d.agreed.describe() if d.agreed else "", passed_at=passed.get(d.key))


def _act(e: TimelineEvent) -> Act:
    return Act(at=e.at, stage=e.stage, kind=e.kind, actor=e.actor, via=e.via, summary=e.summary)


def stage_spans(timeline: list[TimelineEvent]) -> list[tuple[TimelineEvent, datetime | None]]:
    """Each stage entry with when the case left that stage (None: it is still there)."""
    moves = [e for e in timeline if e.kind in MOVES]
    ending = next((e.at for e in timeline if e.kind in ENDINGS), None)
    return [(m, moves[i + 1].at if i + 1 < len(moves) else ending) for i, m in enumerate(moves)]


def pause_spans(timeline: list[TimelineEvent]) -> list[PauseSpan]:
    spans: list[PauseSpan] = []
    for e in timeline:
        if e.kind == "paused":
            spans.append(PauseSpan(stage=e.stage, paused_at=e.at, resumed_at=None,
                                   reason=e.summary.removeprefix("Paused: "), by=e.actor))
        elif e.kind == "resumed" and spans and spans[-1].resumed_at is None:
            spans[-1].resumed_at, spans[-1].resumed_by = e.at, e.actor
    return spans


def bypass_rows(timeline: list[TimelineEvent]) -> list[BypassRow]:
    rows = []
    for e in timeline:
        if e.kind != "bypass":
            continue
        m = _BYPASS.match(e.summary)
        to, who, why = (m.group(1), m.group(2), m.group(3)) if m else ("?", e.actor, e.summary)
        rows.append(BypassRow(at=e.at, from_stage=e.stage, to_stage=to, by=e.actor,
                              agreed_by=who, agreement_of=e.details.get("agreement_of", ""),
                              reason=why, via=e.via))
    return rows


def passed_deadlines(timeline: list[TimelineEvent]) -> dict[str, datetime]:
    """Deadline key → when the workflow recorded it passing (first time)."""
    passed: dict[str, datetime] = {}
    for e in timeline:
        if e.kind == "deadline_passed" and "deadline" in e.details:
            passed.setdefault(e.details["deadline"], e.at)
    return passed


def build_story(case: AuditedCase) -> Story:
    state, timeline, inp = case.state, case.timeline, case.input
    protocol = inp.protocol
    passed = passed_deadlines(timeline)
    rows = [_deadline_row(d, passed) for d in state.deadlines]
    stages = []
    for move, left in stage_spans(timeline):
        sid = move.stage or ""
        try:
            name = protocol.stage(sid).name
        except KeyError:
            name = sid
        stages.append(StageStory(
            stage=sid, name=name, opened=move.at, closed=left, entered=move.summary,
            deadlines=[r for r in rows if r.kind == "stage" and r.stage == sid],
            acts=[_act(e) for e in timeline
                  if e.stage == sid and (e.via in ("update", "signal") or e.actor != "system")
                  and e.kind != "raised"],
            outcomes=[o for o in state.outcomes if o.stage == sid],
            notifications=sum(1 for e in timeline
                              if e.kind == "notification_sent" and e.stage == sid)))
    return Story(
        workflow_id=case.workflow_id, reference=state.reference, protocol=state.protocol,
        partnership=state.partnership, protocol_hash=state.protocol_hash, urgency=state.urgency,
        status=state.status, execution_status=case.execution_status,
        category=inp.case.category, raising_agency=inp.case.raising.agency,
        receiving_agency=inp.case.receiving.agency, raised_at=case.raised_at,
        closed_at=state.closed_at, current_stage=state.stage, source=case.source,
        checks=case.checks, stages=stages,
        overall=[r for r in rows if r.kind == "overall"],
        duties=[r for r in rows if r.kind == "duty"],
        bypasses=bypass_rows(timeline), pauses=pause_spans(timeline),
        extensions=[_act(e) for e in timeline
                    if e.kind in ("timescale_agreed", "timescale_extended")],
        notifications=[_act(e) for e in timeline if e.kind == "notification_sent"],
        not_notified=list(state.not_notified),
        breaches=[r for r in rows if r.breached],
        timeline=list(timeline), facts=list(case.facts), attention=attention(state),
        closing=state.closing_summary, closed_unconfirmed=closed_unconfirmed(timeline))
