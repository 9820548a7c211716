"""Raising a case whose concern arose in the past: which deadlines have already passed, and the
stage the case will start at, shown before it is raised (the CLI's --confirm-backdated, the web
form's confirm page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from infra.settings import Settings
from protocols.calendar import WorkingCalendar
from protocols.caserecord import london
from protocols.deadlines import plan
from protocols.naming import start_stage
from protocols.schema import Protocol


@dataclass(frozen=True)
class Passed:
    """A deadline that passed before the case was raised."""

    stage: str
    what: str
    due: datetime
    on_expiry: str

    def line(self) -> str:
        then = ("the case moves up a stage" if self.on_expiry == "escalate"
                else "a reminder is due")
        return (f"Stage {self.stage}: {self.what}, due {london(self.due)} (London time); "
                f"passed, so {then}")


@dataclass(frozen=True)
class Preview:
    """What backdating does: the deadlines already passed and where the case starts."""

    passed: list[Passed]
    starts_at: str  # "stage 3 (Team / Inspectors / Service Managers)"

    def lines(self) -> list[str]:
        return [f"The concern arose long enough ago that {len(self.passed)} deadline"
                f"{'s have' if len(self.passed) != 1 else ' has'} already passed:",
                *(f"  - {p.line()}" for p in self.passed),
                f"The case will start at {self.starts_at}."]


def preview(protocol: Protocol, arose: datetime, urgency: str, now: datetime,
            settings: Settings) -> Preview | None:
    """None where nothing has passed yet (no confirmation needed)."""
    if arose >= now or urgency == "immediate-risk":
        return None
    calendar = WorkingCalendar.from_settings(settings.working_day_cutoff,
                                             settings.local_closures)
    first = start_stage(protocol, urgency)
    timetable = plan(protocol, calendar, arose, first.id)
    passed: list[Passed] = []
    starts = timetable.stages[0] if timetable.stages else None
    for stage in timetable.stages:
        starts = stage
        done = [Passed(stage.stage, d.what, d.due, d.on_expiry) for d in stage.deadlines
                if d.due is not None and d.due <= now]
        passed += done
        if not any(p.on_expiry == "escalate" for p in done):
            break
    if not passed or starts is None:
        return None
    return Preview(passed, f"stage {starts.stage} ({starts.name})")
