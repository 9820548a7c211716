"""Deadline arithmetic as activities, so every due instant is a recorded fact in history.

A later ``holidays`` release, or a changed local closure, can then never change the replay of
a case that already ran: the workflow reads the answers back from its history.
"""

from __future__ import annotations

from temporalio import activity

from protocols.calendar import WorkingCalendar
from protocols.deadlines import due_for, due_for_agreed, latest_allowed
from protocols.messages import DeadlineAnswer, DeadlineQuery, ShiftRequest
from protocols.schema import Timescale


class DeadlineActivities:
    def __init__(self, calendar: WorkingCalendar, reminder_working_days_before: int = 1) -> None:
        self.calendar = calendar
        self.reminder_days = reminder_working_days_before

    @activity.defn(name="compute_deadlines")
    def compute_deadlines(self, queries: list[DeadlineQuery]) -> list[DeadlineAnswer]:
        return [self._answer(q) for q in queries]

    def _answer(self, query: DeadlineQuery) -> DeadlineAnswer:
        cal = self.calendar
        timescale = Timescale.model_validate(query.timescale) if query.timescale else None
        if query.working_days is not None:
            due = cal.add_working_days(query.clock_start, query.working_days)
        elif query.agreed is not None:
            due = due_for_agreed(cal, query.agreed, query.clock_start)
        elif timescale is not None:
            due = due_for(cal, timescale, query.clock_start)
        else:
            due = None
        remind_at = None
        if query.with_reminder and due is not None and self.reminder_days > 0:
            candidate = cal.working_days_before(due, self.reminder_days)
            if candidate > query.clock_start:
                remind_at = candidate
        latest = latest_allowed(cal, timescale, query.clock_start) if timescale else None
        return DeadlineAnswer(key=query.key, due=due, remind_at=remind_at, latest_allowed=latest)

    @activity.defn(name="shift_after_pause")
    def shift_after_pause(self, request: ShiftRequest) -> list[DeadlineAnswer]:
        return [
            DeadlineAnswer(
                key=item.key,
                due=self.calendar.shift_after_pause(
                    item.moment, request.paused_at, request.resumed_at, item.wall_clock
                ),
            )
            for item in request.items
        ]
