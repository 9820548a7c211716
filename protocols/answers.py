"""The calendar's answers to a case's questions: pure functions over any calendar.

The calendar activity (:mod:`activities.deadlines`) answers with the worker's calendar; the
workflow answers the same questions itself with the case's recorded calendar table
(:mod:`protocols.calendar_table`). Both run these functions, so the arithmetic is one.
"""

from __future__ import annotations

from protocols.calendar import CompressedCalendar, WorkingCalendar
from protocols.deadlines import due_for, due_for_agreed, latest_allowed
from protocols.messages import DeadlineAnswer, DeadlineQuery, ShiftRequest
from protocols.schema import Timescale

Calendar = WorkingCalendar | CompressedCalendar


def answer(cal: Calendar, query: DeadlineQuery, reminder_days: int) -> DeadlineAnswer:
    """When one thing falls due, its reminder and the latest an agreed timescale may reach."""
    timescale = Timescale.model_validate(query.timescale) if query.timescale else None
    if query.working_days is not None:
        due = cal.add_working_days(query.clock_start, query.working_days)
    elif query.agreed is not None:
        due = due_for_agreed(cal, query.agreed, query.clock_start)  # type: ignore[arg-type]
    elif timescale is not None:
        due = due_for(cal, timescale, query.clock_start)  # type: ignore[arg-type]
    else:
        due = None
    remind_at = None
    if query.with_reminder and due is not None and reminder_days > 0:
        candidate = cal.working_days_before(due, reminder_days)
        if candidate > query.clock_start:
            remind_at = candidate
    latest = (latest_allowed(cal, timescale, query.clock_start)  # type: ignore[arg-type]
              if timescale else None)
    return DeadlineAnswer(key=query.key, due=due, remind_at=remind_at, latest_allowed=latest)


def answers(cal: Calendar, queries: list[DeadlineQuery], reminder_days: int
            ) -> list[DeadlineAnswer]:
    return [answer(cal, q, reminder_days) for q in queries]


def shifted(cal: Calendar, request: ShiftRequest) -> list[DeadlineAnswer]:
    """Each moment moved on by the working time a pause took (wall-clock for hour rules)."""
    return [
        DeadlineAnswer(key=item.key, due=cal.shift_after_pause(
            item.moment, request.paused_at, request.resumed_at, item.wall_clock))
        for item in request.items
    ]
