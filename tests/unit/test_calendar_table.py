"""The recorded calendar table tells the same working days as the calendar it was made from,
and refuses any day outside its horizon (the workflow then asks the calendar activity)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from protocols.calendar import LONDON, CompressedCalendar, WorkingCalendar
from protocols.calendar_table import CalendarTable, OutsideTable, calendar_of, table_of

REAL = WorkingCalendar.from_settings(time(16, 30), ["2027-12-24T12:00", "2027-08-31"])


def test_table_days_match_the_calendar_day_by_day() -> None:
    table = table_of(REAL, date(2027, 1, 1), months=18)
    cal = calendar_of(CalendarTable.model_validate_json(table.model_dump_json()))
    day = date(2027, 1, 1)
    while day <= date(2028, 7, 1):
        assert cal.is_working_day(day) == REAL.is_working_day(day), day
        assert cal.cutoff_of(day) == REAL.cutoff_of(day), day
        if day.weekday() < 5:
            assert cal.bank_holiday_name(day) == REAL.bank_holiday_name(day), day
        day += timedelta(days=1)
    assert table.holidays["2027-12-27"] == "Christmas Day (observed)"
    assert table.closures == ["2027-12-24T12:00:00", "2027-08-31"]
    assert len(table.model_dump_json()) < 1000


def test_a_day_past_the_horizon_is_refused_clearly() -> None:
    cal = calendar_of(table_of(REAL, date(2027, 1, 1), months=2))
    start = datetime(2027, 2, 25, 10, tzinfo=LONDON)
    assert cal.add_working_days(start, 2) == REAL.add_working_days(start, 2)
    with pytest.raises(OutsideTable, match="2027-03-02 is outside the case's calendar table "
                                           r"\(2027-01-01 to 2027-03-01\)"):
        cal.add_working_days(start, 3)


def test_the_compressed_test_calendar_is_its_one_parameter() -> None:
    table = table_of(CompressedCalendar(2.0), date(2027, 1, 1), reminder_days=2)
    assert (table.kind, table.day_seconds, table.reminder_days, table.holidays) == \
        ("compressed", 2.0, 2, {})
    assert calendar_of(table) == CompressedCalendar(2.0)
