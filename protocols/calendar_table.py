"""The calendar's facts as data: a compact table a workflow can do deadline arithmetic with.

The worker's calendar activity builds a :class:`CalendarTable` once per case (issue 18): the
cut-off, the reminder setting and, within a horizon of some months, only the weekdays that are
not working days — bank holidays by name (``holidays``, read by the activity) and the worker's
local closures. The table is the activity's result, so it is a recorded fact in the case's
history: a later ``holidays`` release or changed closure cannot change a case that ran.

:func:`calendar_of` turns a table back into a calendar with the same interface as
:class:`WorkingCalendar` (or the compressed test calendar), so the workflow runs the very
arithmetic the activity runs (:mod:`protocols.answers`) without a round trip. A day outside the
horizon raises :class:`OutsideTable`; the workflow then asks the activity instead.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, Field

from protocols.calendar import LONDON, Closure, CompressedCalendar, WorkingCalendar

DEFAULT_MONTHS = 18
LOCAL_CLOSURE = "local closure"


class OutsideTable(LookupError):
    """A day the case's calendar table does not cover: ask the calendar activity."""


class TableRequest(BaseModel):
    """The first day the table must cover (the case's earliest clock, with a margin)."""

    start: date


class CalendarTable(BaseModel):
    """A case's recorded calendar: the England calendar's non-working weekdays within
    [start, end], or the compressed test calendar's one parameter."""

    kind: Literal["england", "compressed"] = "england"
    start: date | None = None
    end: date | None = None
    cutoff: time = time(17, 0)
    reminder_days: int = 1
    # Weekday bank holidays by ISO date, with their names ("2026-12-25": "Christmas Day").
    holidays: dict[str, str] = Field(default_factory=dict)
    # Local closures within the horizon, as the worker's settings write them
    # ("2026-12-24", or "2026-12-24T12:00" for closed from 12:00).
    closures: list[str] = Field(default_factory=list)
    day_seconds: float | None = None

    def covers(self, moment: datetime | None) -> bool:
        """Whether a moment's London date lies within the horizon (always, compressed)."""
        if moment is None or self.kind == "compressed":
            return True
        assert self.start is not None and self.end is not None
        return self.start <= moment.astimezone(LONDON).date() <= self.end


@dataclass(frozen=True)
class TableCalendar(WorkingCalendar):
    """A :class:`WorkingCalendar` whose bank holidays are read from a recorded table and
    which refuses (:class:`OutsideTable`) any day outside the table's horizon. It never
    imports or consults ``holidays``; weekend bank holidays are not in the table (no
    arithmetic needs them), so ``bank_holiday_name`` gives None for them."""

    first: date = date.min
    last: date = date.min
    holiday_names: tuple[tuple[date, str], ...] = ()

    @cached_property
    def _names(self) -> dict[date, str]:
        return dict(self.holiday_names)

    @cached_property
    def _bank_holidays(self):  # type: ignore[override]
        raise RuntimeError("a table calendar never looks a holiday up")

    def _covered(self, day: date) -> None:
        if not self.first <= day <= self.last:
            raise OutsideTable(f"{day.isoformat()} is outside the case's calendar table "
                               f"({self.first.isoformat()} to {self.last.isoformat()})")

    def is_bank_holiday(self, day: date) -> bool:
        self._covered(day)
        return day in self._names

    def bank_holiday_name(self, day: date) -> str | None:
        self._covered(day)
        return self._names.get(day)

    def is_working_day(self, day: date) -> bool:
        self._covered(day)
        return super().is_working_day(day)


def add_months(day: date, months: int) -> date:
    """The same date ``months`` later, clamped to the month's end."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _stdlib_calendar.monthrange(year, month)[1]))


def table_of(calendar: WorkingCalendar | CompressedCalendar, start: date,
             months: int = DEFAULT_MONTHS, reminder_days: int = 1) -> CalendarTable:
    """The table of ``calendar`` from ``start`` for ``months`` (run by the activity)."""
    if isinstance(calendar, CompressedCalendar):
        return CalendarTable(kind="compressed", day_seconds=calendar.day_seconds,
                             reminder_days=reminder_days)
    end = add_months(start, months)
    names: dict[str, str] = {}
    day = start
    while day <= end:
        if day.weekday() < 5 and calendar.is_bank_holiday(day):
            names[day.isoformat()] = calendar.bank_holiday_name(day) or "bank holiday"
        day += timedelta(days=1)
    closures = [_closure_text(c) for c in calendar.closures if start <= c.day <= end]
    return CalendarTable(start=start, end=end, cutoff=calendar.cutoff,
                         reminder_days=reminder_days, holidays=names, closures=closures)


def calendar_of(table: CalendarTable) -> TableCalendar | CompressedCalendar:
    """The calendar a recorded table describes (run in the workflow: pure, no look-ups)."""
    if table.kind == "compressed":
        assert table.day_seconds is not None
        return CompressedCalendar(table.day_seconds)
    assert table.start is not None and table.end is not None
    return TableCalendar(
        cutoff=table.cutoff,
        closures=tuple(Closure.parse(c) for c in table.closures),
        first=table.start, last=table.end,
        holiday_names=tuple((date.fromisoformat(d), n) for d, n in table.holidays.items()))


def _closure_text(closure: Closure) -> str:
    if closure.from_time is None:
        return closure.day.isoformat()
    return f"{closure.day.isoformat()}T{closure.from_time.isoformat()}"
