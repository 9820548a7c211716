"""The daily digest's messages and its rules: which open cases a business unit is told about.

A case needs the business unit when a deadline has passed (overdue), someone could not be
notified, or the state says it is drifting or over a guideline timescale (read defensively:
a state without those fields shows none). Only what is held in clear goes into a digest: case
ids, stages, statuses, flags and dates, never the child or the family.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DIGEST_WORKFLOW = "DigestWorkflow"
DIGEST_SCHEDULE_ID = "resolutions-daily-digest"
DIGEST_ACTIVITY = "send_digests"
FLAG_WORDS = {"overdue": "overdue", "not_notified": "someone not notified",
              "drifting": "drifting", "over_guideline": "over a guideline timescale"}


class DigestInput(BaseModel):
    """What the schedule starts: every partnership, or those named."""

    model_config = ConfigDict(extra="forbid")
    protocols: list[str] = Field(default_factory=list)  # empty = every built-in protocol


class DigestCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow_id: str
    stage: str
    status: str
    flags: list[str]
    next_deadline: datetime | None = None
    stage_entered_at: datetime | None = None


class DigestSent(BaseModel):
    """One partnership's digest: to whom, which cases (none sent when none need it)."""

    model_config = ConfigDict(extra="forbid")
    protocol: str
    to: str = ""
    cases: list[DigestCase] = Field(default_factory=list)
    message_id: str = ""
    skipped: str = ""  # why nothing was sent ("no cases need attention", "no address")


class DigestResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sent: list[DigestSent] = Field(default_factory=list)


def _truthy(value: Any) -> bool:
    return bool(value) and value is not False


def flags_of(state: Any, now: datetime) -> list[str]:
    """The digest's flags for a case state (any object with CaseState's fields)."""
    flags: list[str] = []
    deadlines = list(getattr(state, "deadlines", []) or [])
    if any(getattr(d, "live", False) and d.due is not None and d.due <= now for d in deadlines):
        flags.append("overdue")
    if getattr(state, "not_notified", None):
        flags.append("not_notified")
    if _truthy(getattr(state, "drifting", None)) or any(
            _truthy(getattr(d, "drifting", None)) for d in deadlines):
        flags.append("drifting")
    if _truthy(getattr(state, "over_guideline", None)) or any(
            _truthy(getattr(d, "over_guideline", None)) for d in deadlines):
        flags.append("over_guideline")
    return flags
