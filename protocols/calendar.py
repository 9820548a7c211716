"""The England working-day calendar: pure functions, no clock of their own.

Rules (all in Europe/London time):
- Working days are Monday to Friday, less England & Wales bank holidays (``holidays``, GB/ENG,
  substitute "observed" days included) and any local closure days.
- A working day ends at the cut-off (default 17:00). A moment after the cut-off, or on a day
  that is not a working day, belongs to the next working day. The cut-off itself still belongs
  to its day, so a stage completed at 17:00 counts from that day (Swindon's "Day 17").
- "Same working day" as T = the cut-off of T's working day.
- "Within N working days of T" = the cut-off of the Nth working day after T's working day.
- Hours are wall-clock hours.
- "One month" = from the moment's working day to the same date next month (clamped to the
  month's end), at the cut-off, rolled on to the next working day if that date is not one.

Every returned datetime is timezone-aware (Europe/London). Naive inputs are rejected.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # imported when a bank holiday is first looked up: a workflow never does
    import holidays as holidays_lib

LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Closure:
    """A local closure: the whole day, or from a time of day (e.g. 24 Dec from 12:00)."""

    day: date
    from_time: time | None = None

    @classmethod
    def parse(cls, text: str) -> Closure:
        """``2026-12-24`` (whole day) or ``2026-12-24T12:00`` (closed from 12:00)."""
        text = text.strip()
        try:
            if "T" in text:
                moment = datetime.fromisoformat(text)
                return cls(moment.date(), moment.time())
            return cls(date.fromisoformat(text))
        except ValueError as exc:
            raise ValueError(
                f"local closure '{text}' is not a date (2026-12-24) or date and time "
                f"(2026-12-24T12:00)"
            ) from exc


@dataclass(frozen=True)
class WorkingCalendar:
    cutoff: time = time(17, 0)
    closures: tuple[Closure, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, cutoff: time, closures: Iterable[str]) -> WorkingCalendar:
        return cls(cutoff=cutoff, closures=tuple(Closure.parse(c) for c in closures))

    @cached_property
    def _bank_holidays(self) -> holidays_lib.HolidayBase:
        import holidays as holidays_lib

        return holidays_lib.country_holidays("GB", subdiv="ENG", observed=True)

    @cached_property
    def _closure_by_day(self) -> dict[date, Closure]:
        return {c.day: c for c in self.closures}

    # -- days ----------------------------------------------------------------------------------
    def is_bank_holiday(self, day: date) -> bool:
        return day in self._bank_holidays

    def bank_holiday_name(self, day: date) -> str | None:
        return self._bank_holidays.get(day)

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5 or self.is_bank_holiday(day):
            return False
        closure = self._closure_by_day.get(day)
        return not (closure is not None and closure.from_time is None)

    def cutoff_of(self, day: date) -> datetime:
        """The instant a working day ends: the cut-off, or earlier on a part-day closure."""
        closing = self.cutoff
        closure = self._closure_by_day.get(day)
        if closure is not None and closure.from_time is not None:
            closing = min(closing, closure.from_time)
        return datetime.combine(day, closing, tzinfo=LONDON)

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def previous_working_day(self, day: date) -> date:
        day -= timedelta(days=1)
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def working_day_of(self, moment: datetime) -> date:
        """The working day a moment counts towards."""
        local = _london(moment)
        day = local.date()
        if self.is_working_day(day) and local <= self.cutoff_of(day):
            return day
        return self.next_working_day(day)

    # -- deadlines -----------------------------------------------------------------------------
    def same_working_day(self, moment: datetime) -> datetime:
        return self.cutoff_of(self.working_day_of(moment))

    def add_working_days(self, moment: datetime, n: int) -> datetime:
        """The cut-off of the Nth working day after the moment's working day (N=0: same day)."""
        if n < 0:
            raise ValueError("working days to add must be zero or more")
        day = self.working_day_of(moment)
        for _ in range(n):
            day = self.next_working_day(day)
        return self.cutoff_of(day)

    def add_hours(self, moment: datetime, hours: int) -> datetime:
        return (_london(moment).astimezone(LONDON) + timedelta(hours=hours)).astimezone(LONDON)

    def add_months(self, moment: datetime, months: int) -> datetime:
        """The same date ``months`` later, counted from the moment's working day (after the
        cut-off or on a non-working day: the next working day), clamped to the month's end, at
        the cut-off; a date that is not a working day rolls on to the next working day. (A
        project reading: the documents say "one month" and no more; issue 15.)"""
        start = self.working_day_of(moment)
        month_index = start.month - 1 + months
        year, month = start.year + month_index // 12, month_index % 12 + 1
        last = _stdlib_calendar.monthrange(year, month)[1]
        target = date(year, month, min(start.day, last))
        if not self.is_working_day(target):
            target = self.next_working_day(target)
        return self.cutoff_of(target)

    def working_days_before(self, due: datetime, n: int) -> datetime:
        """The same wall-clock time ``n`` working days before ``due``'s working day."""
        local = _london(due)
        day = local.date()
        for _ in range(n):
            day = self.previous_working_day(day)
        return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=LONDON)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """How many working-day cut-offs fall in (start, end]: the working time that passed."""
        if end <= start:
            return 0
        count = 0
        day = self.working_day_of(start)
        if self.cutoff_of(day) <= _london(start):  # starting exactly at a cut-off
            day = self.next_working_day(day)
        while self.cutoff_of(day) <= _london(end):
            count += 1
            day = self.next_working_day(day)
        return count

    def shift_after_pause(
        self, due: datetime, paused_at: datetime, resumed_at: datetime, wall_clock: bool
    ) -> datetime:
        """Move a deadline on by the working time a pause took (wall-clock for hour rules)."""
        paused_at, resumed_at = _london(paused_at), _london(resumed_at)
        if resumed_at <= paused_at:
            return _london(due)
        if wall_clock:
            return _london(due) + (resumed_at - paused_at)
        lost = self.working_days_between(paused_at, resumed_at)
        if lost == 0:
            return _london(due)
        day = self.working_day_of(due)
        for _ in range(lost):
            day = self.next_working_day(day)
        return self.cutoff_of(day)


def _london(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"time {moment.isoformat()} has no timezone; give an offset or 'Z'")
    return moment.astimezone(LONDON)


@dataclass(frozen=True)
class CompressedCalendar:
    """A stand-in calendar for benchmarks and fault tests on a real server, never for cases:
    every day is a working day lasting ``day_seconds`` of real time (no weekends, holidays or
    time zones), so a protocol's weeks pass in seconds. Same interface as WorkingCalendar.
    """

    day_seconds: float

    def _index(self, moment: datetime) -> int:
        """The working day a moment counts towards; a moment at a cut-off belongs to its day."""
        value = _london(moment).timestamp() / self.day_seconds
        index = int(value)
        return index - 1 if value == index else index

    def cutoff_of(self, index: int) -> datetime:  # type: ignore[override]
        return datetime.fromtimestamp((index + 1) * self.day_seconds, tz=LONDON)

    def same_working_day(self, moment: datetime) -> datetime:
        return self.cutoff_of(self._index(moment))

    def add_working_days(self, moment: datetime, n: int) -> datetime:
        return self.cutoff_of(self._index(moment) + n)

    def add_hours(self, moment: datetime, hours: int) -> datetime:
        return _london(moment) + timedelta(seconds=self.day_seconds * hours / 8)

    def add_months(self, moment: datetime, months: int) -> datetime:
        return self.cutoff_of(self._index(moment) + 21 * months)

    def working_days_before(self, due: datetime, n: int) -> datetime:
        return _london(due) - timedelta(seconds=self.day_seconds * n)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        return max(0, self._index(end) - self._index(start))

    def shift_after_pause(
        self, due: datetime, paused_at: datetime, resumed_at: datetime, wall_clock: bool
    ) -> datetime:
        return _london(due) + max(timedelta(0), _london(resumed_at) - _london(paused_at))
