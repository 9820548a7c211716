"""One case as the audit sees it: what it was raised with, its state and its own timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from protocols.messages import CaseInput, CaseRecord, CaseState, TimelineEvent
from starter.audit.facts import Fact

Source = Literal["recorded result", "replay", "partial replay"]


class Check(BaseModel):
    """One cross-check of a rebuilt record against the history's raw facts."""

    name: str
    ok: bool
    detail: str = ""


class AuditedCase(BaseModel):
    """A case's input, state and timeline, with where they came from.

    ``source`` says how the record was obtained: the result the workflow itself returned
    (closed cases), a full replay of the history (running cases), or a replay that stopped at
    an incompatibility (``partial replay``: the record up to that point only).
    """

    workflow_id: str
    run_id: str = ""
    input: CaseInput
    state: CaseState
    timeline: list[TimelineEvent]
    running: bool
    execution_status: str = "running"
    source: Source = "replay"
    checks: list[Check] = Field(default_factory=list)
    history_events: int = 0
    last_event_at: datetime | None = None
    facts: list[Fact] = Field(default_factory=list)

    @property
    def record(self) -> CaseRecord:
        return CaseRecord(state=self.state, timeline=self.timeline)

    @property
    def raised_at(self) -> datetime:
        raised = next((e.at for e in self.timeline if e.kind == "raised"), None)
        return raised or self.state.stage_entered_at
