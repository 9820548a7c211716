"""The calendar's answers (deadline arithmetic, a pause's shift) for a case.

An answer rests on a recorded fact: since issue 18 a case asks the worker's ``calendar_table``
activity once for its calendar table (the cut-off, and the bank holidays and local closures of
the next months, see :mod:`protocols.calendar_table`), keeps it (and carries it across
continue-as-new), and works its deadlines out from it in the workflow with the activity's own
arithmetic (:mod:`protocols.answers`) — a click no longer waits on a round trip through the
activity queue. The table is in history, so a later ``holidays`` release cannot change a case
that already ran, and the workflow itself never looks a holiday up. A question whose days fall
outside the table is asked of ``compute_deadlines`` / ``shift_after_pause`` as before (after
one fresh table, if the case has outlived its own).

Running cases and saved histories: a case that asked the activities before the table keeps
asking them on replay. Whether a case uses the table is a patch marker, one id per question
until the first that does (as the permission checks do): ``patched`` remembers its answer per
id, so one shared id asked first by an old question would stay False for good.

Local activities were tried here to spare a click the round trip, but a history in which a
local activity's result came back on an eagerly dispatched workflow task failed to replay
("patch marker … no corresponding change command") under the SDK in use. The audit still reads
local-activity markers as calendar facts, should a history hold any.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from protocols import answers
    from protocols.calendar import LONDON
    from protocols.calendar_table import (
        CalendarTable,
        OutsideTable,
        TableRequest,
        calendar_of,
    )
    from protocols.messages import DeadlineAnswer, DeadlineQuery, ShiftRequest

TABLE_PATCH = "calendar-table-v1"
# The table starts this long before the earliest clock it is first asked about, for
# reminders counted back from a deadline and pauses that began before the question.
TABLE_MARGIN = timedelta(days=31)
# A case older than this since its table began asks for a fresh one before falling back.
TABLE_REFRESH_AFTER = timedelta(days=90)


async def ask_calendar(name: str, arg: Any, timeout: timedelta) -> list[DeadlineAnswer]:
    """``compute_deadlines`` or ``shift_after_pause``, as an activity of the case."""
    return await workflow.execute_activity(
        name, arg, result_type=list[DeadlineAnswer], start_to_close_timeout=timeout)


class CaseCalendar:
    """A case's calendar: its recorded table where it has one, the activities otherwise."""

    def __init__(self, table: CalendarTable | None, timeout: timedelta) -> None:
        self.table = table
        self._timeout = timeout
        self._on = table is not None
        self._asks = 0
        self._cal: Any = None

    def _uses_table(self) -> bool:
        if not self._on:
            self._asks += 1
            self._on = workflow.patched(f"{TABLE_PATCH}.{self._asks}")
        return self._on

    async def compute(self, queries: list[DeadlineQuery]) -> list[DeadlineAnswer]:
        if not self._uses_table():
            return await ask_calendar("compute_deadlines", queries, self._timeout)
        earliest = min([q.clock_start for q in queries], default=workflow.now())
        found = await self._from_table(
            earliest, lambda cal, t: answers.answers(cal, queries, t.reminder_days))
        return found if found is not None else await ask_calendar(
            "compute_deadlines", queries, self._timeout)

    async def shift(self, request: ShiftRequest) -> list[DeadlineAnswer]:
        if not self._uses_table():
            return await ask_calendar("shift_after_pause", request, self._timeout)
        found = await self._from_table(request.paused_at,
                                       lambda cal, _t: answers.shifted(cal, request))
        return found if found is not None else await ask_calendar(
            "shift_after_pause", request, self._timeout)

    async def _from_table(self, earliest: datetime,
                          work: Callable[[Any, CalendarTable], list[DeadlineAnswer]]
                          ) -> list[DeadlineAnswer] | None:
        """The answers from the case's table (asked for first if it has none, or a fresh one
        once if the case has outlived it); None where they need days outside it."""
        earliest = min(earliest, workflow.now())
        if self.table is None:
            await self._fetch(earliest)
        found = self._try(work)
        if found is None and self._stale(earliest):
            await self._fetch(earliest)
            found = self._try(work)
        return found

    def _try(self, work: Callable[[Any, CalendarTable], list[DeadlineAnswer]]
             ) -> list[DeadlineAnswer] | None:
        table = self.table
        assert table is not None
        try:
            found = work(self._calendar, table)
        except OutsideTable:
            return None
        inside = all(table.covers(t) for a in found
                     for t in (a.due, a.remind_at, a.latest_allowed))
        return found if inside else None

    def _stale(self, earliest: datetime) -> bool:
        table = self.table
        assert table is not None
        if table.start is None:  # the compressed test calendar has no horizon
            return False
        start = (earliest - TABLE_MARGIN).astimezone(LONDON).date()
        return start - table.start >= TABLE_REFRESH_AFTER

    async def _fetch(self, earliest: datetime) -> None:
        start = (earliest - TABLE_MARGIN).astimezone(LONDON).date()
        self.table = await workflow.execute_activity(
            "calendar_table", TableRequest(start=start), result_type=CalendarTable,
            start_to_close_timeout=self._timeout)
        self._cal = calendar_of(self.table)

    @property
    def _calendar(self) -> Any:
        if self._cal is None:
            assert self.table is not None
            self._cal = calendar_of(self.table)
        return self._cal
