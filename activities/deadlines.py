"""Deadline arithmetic as activities, so every due instant is a recorded fact in history.

A later ``holidays`` release, or a changed local closure, can then never change the replay of
a case that already ran: the workflow reads the answers back from its history. Since issue 18
a case first asks for its calendar table (``calendar_table``) and answers most questions itself
from that recorded table; ``compute_deadlines`` and ``shift_after_pause`` answer what falls
outside the table, and every question of a case that started before the table.
"""

from __future__ import annotations

from temporalio import activity

from protocols import answers
from protocols.calendar import CompressedCalendar, WorkingCalendar
from protocols.calendar_table import DEFAULT_MONTHS, CalendarTable, TableRequest, table_of
from protocols.messages import DeadlineAnswer, DeadlineQuery, ShiftRequest


class DeadlineActivities:
    def __init__(self, calendar: WorkingCalendar | CompressedCalendar,
                 reminder_working_days_before: int = 1,
                 table_months: int = DEFAULT_MONTHS) -> None:
        self.calendar = calendar
        self.reminder_days = reminder_working_days_before
        self.table_months = table_months

    @activity.defn(name="compute_deadlines")
    def compute_deadlines(self, queries: list[DeadlineQuery]) -> list[DeadlineAnswer]:
        return answers.answers(self.calendar, queries, self.reminder_days)

    @activity.defn(name="shift_after_pause")
    def shift_after_pause(self, request: ShiftRequest) -> list[DeadlineAnswer]:
        return answers.shifted(self.calendar, request)

    @activity.defn(name="calendar_table")
    def calendar_table(self, request: TableRequest) -> CalendarTable:
        return table_of(self.calendar, request.start, self.table_months, self.reminder_days)
