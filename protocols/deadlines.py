"""Turning a protocol's timescales into due instants, and the whole-protocol timetable.

Pure functions over :class:`WorkingCalendar`; the workflow runs them only over a calendar that is
a recorded fact in its history (the calendar activity's answers, or its recorded calendar table:
:mod:`protocols.calendar_table`), so a due date never changes on replay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from protocols.calendar import WorkingCalendar
from protocols.schema import Protocol, Timescale


class AgreedTimescale(BaseModel):
    """A timescale agreed for one case's stage: a count of working days or hours, or a date."""

    kind: Literal["same_working_day", "working_days", "hours", "until"]
    # Bounds are the protocol's rule (protocols.agreed_bounds), refused in the workflow's
    # validator in its own words; this only keeps the number within reason.
    amount: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    until: datetime | None = None

    def describe(self) -> str:
        match self.kind:
            case "same_working_day":
                return "immediately (same working day)"
            case "working_days":
                return f"{self.amount} working days"
            case "hours":
                return f"{self.amount} hours"
            case "until":
                return f"until {self.until.isoformat() if self.until else '?'}"
        return self.kind  # pragma: no cover


def due_for(
    calendar: WorkingCalendar,
    timescale: Timescale,
    clock_start: datetime,
    agreed: AgreedTimescale | None = None,
) -> datetime | None:
    """When something on this timescale falls due; None where nothing fixes an instant."""
    if agreed is not None:
        return due_for_agreed(calendar, agreed, clock_start)
    match timescale.kind:
        case "same_working_day":
            return calendar.same_working_day(clock_start)
        case "working_days":
            return calendar.add_working_days(clock_start, timescale.amount or 0)
        case "hours":
            return calendar.add_hours(clock_start, timescale.amount or 0)
        case "calendar_months":
            return calendar.add_months(clock_start, timescale.amount or 0)
        case "agreed" if timescale.default_working_days is not None:
            return calendar.add_working_days(clock_start, timescale.default_working_days)
    return None


def due_for_agreed(
    calendar: WorkingCalendar, agreed: AgreedTimescale, clock_start: datetime
) -> datetime:
    match agreed.kind:
        case "same_working_day":
            return calendar.same_working_day(clock_start)
        case "working_days":
            return calendar.add_working_days(clock_start, agreed.amount or 0)
        case "hours":
            return calendar.add_hours(clock_start, agreed.amount or 0)
        case "until":
            if agreed.until is None:
                raise ValueError("an agreed date is missing")
            return agreed.until
    raise ValueError(f"unknown agreed timescale '{agreed.kind}'")  # pragma: no cover


def latest_allowed(
    calendar: WorkingCalendar, timescale: Timescale, clock_start: datetime
) -> datetime | None:
    """The latest instant an agreed timescale may reach (its maximum), if it has one."""
    if timescale.kind == "agreed" and timescale.max_working_days is not None:
        return calendar.add_working_days(clock_start, timescale.max_working_days)
    return None


# -- the timetable ----------------------------------------------------------------------------
class PlannedDeadline(BaseModel):
    what: str
    who: str
    due: datetime | None
    timescale: str
    on_expiry: str
    source: str


class PlannedStage(BaseModel):
    stage: str
    name: str
    starts: datetime
    ends: datetime
    deadlines: list[PlannedDeadline]


class Timetable(BaseModel):
    protocol: str
    arose: datetime
    stages: list[PlannedStage]
    overall: list[PlannedDeadline] = Field(default_factory=list)


def plan(
    protocol: Protocol,
    calendar: WorkingCalendar,
    arose: datetime,
    start_stage: str | None = None,
) -> Timetable:
    """The timetable if every stage used its full time and no one resolved anything.

    A stage ends at its latest fixed deadline; a stage with no fixed time ("as soon as
    possible", agreed per case, none) is taken to end when it starts. Duties due on resolution
    are shown as if the stage were resolved at its end.
    """
    first = protocol.stage_index(start_stage) if start_stage else 0
    stage_start = arose
    stages: list[PlannedStage] = []
    for stage in protocol.stages[first:]:
        rows: list[PlannedDeadline] = []
        end = stage_start
        for rule in stage.deadlines:
            clock = arose if rule.clock == "concern_arose" else stage_start
            due = due_for(calendar, rule.timescale, clock)
            rows.append(
                PlannedDeadline(
                    what=rule.what,
                    who=rule.who,
                    due=due,
                    timescale=rule.timescale.describe(),
                    on_expiry=rule.on_expiry,
                    source=rule.source,
                )
            )
            if due is not None:
                end = max(end, due)
        for duty in stage.on_resolution:
            due = due_for(calendar, duty.timescale, end) if duty.timescale else None
            rows.append(
                PlannedDeadline(
                    what=f"If resolved at this stage: {duty.what}",
                    who=duty.who,
                    due=due,
                    timescale=duty.timescale.describe() if duty.timescale else "no timescale",
                    on_expiry="remind",
                    source=duty.source,
                )
            )
        stages.append(
            PlannedStage(
                stage=stage.id, name=stage.name, starts=stage_start, ends=end, deadlines=rows
            )
        )
        stage_start = end
    overall: list[PlannedDeadline] = []
    if protocol.overall_limit is not None:
        limit = protocol.overall_limit
        overall.append(
            PlannedDeadline(
                what=limit.what,
                who="All parties",
                due=due_for(calendar, limit.timescale, arose),
                timescale=limit.timescale.describe(),
                on_expiry=limit.describe_passing(),
                source=limit.source,
            )
        )
    return Timetable(protocol=protocol.id, arose=arose, stages=stages, overall=overall)
