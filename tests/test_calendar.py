"""The England working-day calendar, pinned against a real calendar worked out by hand.

Every expected datetime below was worked out on paper from the England & Wales bank-holiday list
and a wall calendar, not by calling the code:

- 2025: Thu 25 Dec (Christmas), Fri 26 Dec (Boxing Day).
- 2026: Thu 1 Jan; Good Friday 3 Apr, Easter Monday 6 Apr; Early May Mon 4 May; Spring Mon 25 May;
  Summer Mon 31 Aug; Christmas Fri 25 Dec; Boxing Day Sat 26 Dec, observed Mon 28 Dec.
- 2027: Fri 1 Jan.
- Clocks go forward Sun 29 Mar 2026 (GMT +00:00 -> BST +01:00) and back Sun 25 Oct 2026.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.calendar import LONDON, Closure, WorkingCalendar

CAL = WorkingCalendar()
GMT = timedelta(0)
BST = timedelta(hours=1)


def ldn(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """A London wall-clock time."""
    return datetime(y, mo, d, h, mi, s, tzinfo=LONDON)


def iso(moment: datetime) -> str:
    return moment.isoformat()


# -- bank holidays ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "day, working",
    [
        (date(2025, 12, 24), True),  # Wed
        (date(2025, 12, 25), False),  # Thu, Christmas Day
        (date(2025, 12, 26), False),  # Fri, Boxing Day
        (date(2025, 12, 27), False),  # Sat
        (date(2025, 12, 29), True),  # Mon
        (date(2026, 1, 1), False),  # Thu, New Year's Day
        (date(2026, 1, 2), True),  # Fri
        (date(2026, 4, 2), True),  # Thu before Easter
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 4, 6), False),  # Easter Monday
        (date(2026, 4, 7), True),  # Tue
        (date(2026, 12, 24), True),  # Thu
        (date(2026, 12, 25), False),  # Fri, Christmas Day
        (date(2026, 12, 28), False),  # Mon, Boxing Day (substitute day)
        (date(2026, 12, 29), True),  # Tue
        (date(2027, 1, 1), False),  # Fri, New Year's Day
    ],
)
def test_working_days_around_bank_holidays(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_boxing_day_2026_substitute_is_named() -> None:
    assert CAL.is_bank_holiday(date(2026, 12, 28))
    name = CAL.bank_holiday_name(date(2026, 12, 28))
    assert name is not None and "Boxing Day" in name
    # Sat 26 Dec 2026 is a weekend day either way; the working day that is lost is Monday.
    assert not CAL.is_working_day(date(2026, 12, 26))


# -- Christmas and New Year 2025-26 -----------------------------------------------------------
@pytest.mark.parametrize(
    "moment, n, expected",
    [
        # Wed 24 Dec 10:00 + 1: Thu 25, Fri 26 holidays, weekend -> Mon 29 Dec.
        (ldn(2025, 12, 24, 10), 1, "2025-12-29T17:00:00+00:00"),
        # Wed 24 Dec 18:00 is after the cut-off: its working day is Mon 29 Dec.
        (ldn(2025, 12, 24, 18), 0, "2025-12-29T17:00:00+00:00"),
        (ldn(2025, 12, 24, 18), 1, "2025-12-30T17:00:00+00:00"),
        # Christmas Day itself counts towards Mon 29 Dec.
        (ldn(2025, 12, 25, 9), 0, "2025-12-29T17:00:00+00:00"),
        (ldn(2025, 12, 25, 9), 2, "2025-12-31T17:00:00+00:00"),
        # Tue 23 Dec + 5: Wed 24, Mon 29, Tue 30, Wed 31, (Thu 1 Jan holiday) Fri 2 Jan.
        (ldn(2025, 12, 23, 12), 5, "2026-01-02T17:00:00+00:00"),
        # Wed 31 Dec + 1 skips New Year's Day.
        (ldn(2025, 12, 31, 10), 1, "2026-01-02T17:00:00+00:00"),
        # New Year's Day (Thu) belongs to Fri 2 Jan; + 1 -> Mon 5 Jan.
        (ldn(2026, 1, 1, 11), 1, "2026-01-05T17:00:00+00:00"),
    ],
)
def test_christmas_new_year_2025_26(moment: datetime, n: int, expected: str) -> None:
    assert iso(CAL.add_working_days(moment, n)) == expected


def test_same_working_day_on_christmas_eve_evening_2025() -> None:
    assert iso(CAL.same_working_day(ldn(2025, 12, 24, 17, 30))) == "2025-12-29T17:00:00+00:00"


# -- Christmas 2026 (Boxing Day observed Mon 28 Dec) -------------------------------------------
@pytest.mark.parametrize(
    "moment, n, expected",
    [
        # Thu 24 Dec + 1: Fri 25 holiday, weekend, Mon 28 substitute holiday -> Tue 29 Dec.
        (ldn(2026, 12, 24, 10), 1, "2026-12-29T17:00:00+00:00"),
        # Wed 23 Dec + 5: Thu 24, Tue 29, Wed 30, Thu 31, (Fri 1 Jan holiday) Mon 4 Jan 2027.
        (ldn(2026, 12, 23, 9), 5, "2027-01-04T17:00:00+00:00"),
        # Boxing Day (Sat) belongs to Tue 29 Dec, not Mon 28 Dec.
        (ldn(2026, 12, 26, 12), 0, "2026-12-29T17:00:00+00:00"),
        # The substitute day itself belongs to Tue 29 Dec.
        (ldn(2026, 12, 28, 10), 1, "2026-12-30T17:00:00+00:00"),
    ],
)
def test_christmas_2026(moment: datetime, n: int, expected: str) -> None:
    assert iso(CAL.add_working_days(moment, n)) == expected


# -- Easter 2026 (Good Friday 3 Apr, Easter Monday 6 Apr; already BST) ------------------------
@pytest.mark.parametrize(
    "moment, n, expected",
    [
        (ldn(2026, 4, 2, 10), 1, "2026-04-07T17:00:00+01:00"),
        (ldn(2026, 4, 2, 17, 30), 0, "2026-04-07T17:00:00+01:00"),
        (ldn(2026, 4, 1, 12), 2, "2026-04-07T17:00:00+01:00"),
        (ldn(2026, 4, 3, 12), 0, "2026-04-07T17:00:00+01:00"),
        # Thu 2 Apr + 5: Tue 7, Wed 8, Thu 9, Fri 10, Mon 13 Apr.
        (ldn(2026, 4, 2, 9), 5, "2026-04-13T17:00:00+01:00"),
    ],
)
def test_easter_2026(moment: datetime, n: int, expected: str) -> None:
    assert iso(CAL.add_working_days(moment, n)) == expected


# -- the cut-off --------------------------------------------------------------------------------
def test_friday_after_cutoff_belongs_to_monday() -> None:
    friday_evening = ldn(2026, 3, 6, 17, 30)  # Fri 6 Mar 2026
    assert CAL.working_day_of(friday_evening) == date(2026, 3, 9)
    assert iso(CAL.same_working_day(friday_evening)) == "2026-03-09T17:00:00+00:00"
    assert iso(CAL.add_working_days(friday_evening, 1)) == "2026-03-10T17:00:00+00:00"
    assert iso(CAL.add_working_days(friday_evening, 2)) == "2026-03-11T17:00:00+00:00"


def test_exactly_at_cutoff_belongs_to_that_day() -> None:
    at_cutoff = ldn(2026, 3, 6, 17, 0)
    assert CAL.working_day_of(at_cutoff) == date(2026, 3, 6)
    assert iso(CAL.same_working_day(at_cutoff)) == "2026-03-06T17:00:00+00:00"
    assert iso(CAL.add_working_days(at_cutoff, 1)) == "2026-03-09T17:00:00+00:00"


def test_one_second_after_cutoff_belongs_to_next_working_day() -> None:
    just_after = ldn(2026, 3, 6, 17, 0, 1)
    assert iso(CAL.same_working_day(just_after)) == "2026-03-09T17:00:00+00:00"


def test_saturday_belongs_to_monday() -> None:
    saturday = ldn(2026, 3, 7, 11)
    assert CAL.working_day_of(saturday) == date(2026, 3, 9)
    assert iso(CAL.same_working_day(saturday)) == "2026-03-09T17:00:00+00:00"
    assert iso(CAL.add_working_days(saturday, 1)) == "2026-03-10T17:00:00+00:00"


def test_early_morning_belongs_to_the_same_day() -> None:
    assert iso(CAL.same_working_day(ldn(2026, 3, 9, 0, 5))) == "2026-03-09T17:00:00+00:00"


def test_negative_working_days_rejected() -> None:
    with pytest.raises(ValueError, match="zero or more"):
        CAL.add_working_days(ldn(2026, 3, 9, 10), -1)


def test_custom_cutoff_1600() -> None:
    cal = WorkingCalendar(cutoff=time(16, 0))
    assert iso(cal.same_working_day(ldn(2026, 3, 6, 16, 30))) == "2026-03-09T16:00:00+00:00"
    assert iso(cal.same_working_day(ldn(2026, 3, 6, 16, 0))) == "2026-03-06T16:00:00+00:00"
    assert iso(cal.add_working_days(ldn(2026, 3, 6, 16, 0), 1)) == "2026-03-09T16:00:00+00:00"
    # 16:30 on Thu 2 Apr is after a 16:00 cut-off: it belongs to Tue 7 Apr (after Easter).
    assert iso(cal.add_working_days(ldn(2026, 4, 2, 16, 30), 1)) == "2026-04-08T16:00:00+01:00"
    assert iso(cal.add_months(ldn(2025, 1, 31, 10), 1)) == "2025-02-28T16:00:00+00:00"


# -- local closures -----------------------------------------------------------------------------
def test_whole_day_local_closure() -> None:
    cal = WorkingCalendar.from_settings(time(17, 0), ["2026-03-10"])  # Tue 10 Mar 2026
    assert not cal.is_working_day(date(2026, 3, 10))
    assert iso(cal.add_working_days(ldn(2026, 3, 9, 10), 1)) == "2026-03-11T17:00:00+00:00"
    assert iso(cal.same_working_day(ldn(2026, 3, 10, 9))) == "2026-03-11T17:00:00+00:00"
    # Mon 9 Mar + 3: (Tue 10 closed) Wed 11, Thu 12, Fri 13.
    assert iso(cal.add_working_days(ldn(2026, 3, 9, 10), 3)) == "2026-03-13T17:00:00+00:00"


def test_part_day_local_closure_moves_that_days_cutoff() -> None:
    cal = WorkingCalendar.from_settings(time(17, 0), ["2026-12-24T12:00"])  # Thu 24 Dec 2026
    assert cal.is_working_day(date(2026, 12, 24))
    assert iso(cal.cutoff_of(date(2026, 12, 24))) == "2026-12-24T12:00:00+00:00"
    assert iso(cal.same_working_day(ldn(2026, 12, 24, 11))) == "2026-12-24T12:00:00+00:00"
    # Exactly at the closing time still belongs to the day.
    assert iso(cal.same_working_day(ldn(2026, 12, 24, 12))) == "2026-12-24T12:00:00+00:00"
    # After it: the next working day is Tue 29 Dec (25 Dec, weekend, 28 Dec substitute).
    assert iso(cal.same_working_day(ldn(2026, 12, 24, 12, 30))) == "2026-12-29T17:00:00+00:00"
    assert iso(cal.add_working_days(ldn(2026, 12, 23, 10), 1)) == "2026-12-24T12:00:00+00:00"
    # Other days keep the usual cut-off.
    assert iso(cal.cutoff_of(date(2026, 12, 23))) == "2026-12-23T17:00:00+00:00"


def test_part_day_closure_later_than_cutoff_keeps_cutoff() -> None:
    cal = WorkingCalendar.from_settings(time(16, 0), ["2026-12-24T16:30"])
    assert iso(cal.cutoff_of(date(2026, 12, 24))) == "2026-12-24T16:00:00+00:00"


def test_closure_parse() -> None:
    assert Closure.parse("2026-12-24") == Closure(date(2026, 12, 24))
    assert Closure.parse(" 2026-12-24T12:00 ") == Closure(date(2026, 12, 24), time(12, 0))


@pytest.mark.parametrize("text", ["24/12/2026", "Christmas Eve", "2026-12-32", "2026-12-24T25:00"])
def test_closure_parse_bad_text(text: str) -> None:
    with pytest.raises(ValueError) as err:
        Closure.parse(text)
    message = str(err.value)
    assert f"local closure '{text}'" in message
    assert "2026-12-24" in message and "2026-12-24T12:00" in message  # shows what is expected


def test_from_settings_rejects_bad_closure() -> None:
    with pytest.raises(ValueError, match="local closure 'next friday'"):
        WorkingCalendar.from_settings(time(17, 0), ["2026-12-24", "next friday"])


# -- daylight saving ----------------------------------------------------------------------------
def test_working_days_across_clocks_going_forward() -> None:
    result = CAL.add_working_days(ldn(2026, 3, 27, 10), 1)  # Fri 27 Mar (GMT)
    assert iso(result) == "2026-03-30T17:00:00+01:00"
    assert result.utcoffset() == BST
    assert result.astimezone(UTC) == datetime(2026, 3, 30, 16, 0, tzinfo=UTC)


def test_working_days_across_clocks_going_back() -> None:
    result = CAL.add_working_days(ldn(2026, 10, 23, 10), 1)  # Fri 23 Oct (BST)
    assert iso(result) == "2026-10-26T17:00:00+00:00"
    assert result.utcoffset() == GMT


def test_cutoff_is_london_time_not_utc() -> None:
    # 16:30 UTC is 16:30 in London in winter: before the cut-off.
    assert iso(CAL.same_working_day(datetime(2026, 3, 27, 16, 30, tzinfo=UTC))) == (
        "2026-03-27T17:00:00+00:00"
    )
    # 16:30 UTC is 17:30 in London in summer: after the cut-off (Fri 5 Jun -> Mon 8 Jun).
    assert iso(CAL.same_working_day(datetime(2026, 6, 5, 16, 30, tzinfo=UTC))) == (
        "2026-06-08T17:00:00+01:00"
    )
    # Fri 23 Oct 2026 16:30 UTC = 17:30 BST: after the cut-off; Mon 26 Oct is GMT again.
    assert iso(CAL.same_working_day(datetime(2026, 10, 23, 16, 30, tzinfo=UTC))) == (
        "2026-10-26T17:00:00+00:00"
    )


def test_24_wall_clock_hours_across_spring_change() -> None:
    start = ldn(2026, 3, 28, 12)  # Sat 28 Mar 12:00 GMT
    result = CAL.add_hours(start, 24)
    assert iso(result) == "2026-03-29T12:00:00+01:00"
    assert result.utcoffset() == BST
    # Real elapsed time (same-zone subtraction in Python is wall-clock, so go via UTC).
    assert result.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)


def test_24_wall_clock_hours_across_autumn_change() -> None:
    start = ldn(2026, 10, 24, 12)  # Sat 24 Oct 12:00 BST
    result = CAL.add_hours(start, 24)
    assert iso(result) == "2026-10-25T12:00:00+00:00"
    assert result.utcoffset() == GMT
    assert result.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=25)


def test_hours_from_a_utc_input_are_london_wall_clock() -> None:
    result = CAL.add_hours(datetime(2026, 3, 28, 12, tzinfo=UTC), 24)
    assert result.tzinfo is not None
    assert iso(result) == "2026-03-29T12:00:00+01:00"
    assert iso(CAL.add_hours(ldn(2026, 3, 9, 10), 3)) == "2026-03-09T13:00:00+00:00"


# -- months -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "moment, expected",
    [
        (ldn(2025, 1, 31, 10), "2025-02-28T17:00:00+00:00"),  # clamped
        # Sat 31 Jan belongs to Mon 2 Feb: the month runs to Mon 2 Mar.
        (ldn(2026, 1, 31, 10), "2026-03-02T17:00:00+00:00"),
        (ldn(2028, 1, 31, 10), "2028-02-29T17:00:00+00:00"),  # leap year
        (ldn(2026, 3, 31, 9), "2026-04-30T17:00:00+01:00"),  # clamped, into BST
        (ldn(2026, 12, 14, 10), "2027-01-14T17:00:00+00:00"),  # year rolls over
        # After the cut-off on Tue 15 Dec: Wed 16 Dec's; Sat 16 Jan rolls to Mon 18 Jan.
        (ldn(2026, 12, 15, 18), "2027-01-18T17:00:00+00:00"),
        # Wed 25 Nov 2026: Christmas Day, then Boxing Day observed (Mon 28): Tue 29 Dec.
        (ldn(2026, 11, 25, 10), "2026-12-29T17:00:00+00:00"),
        (ldn(2026, 4, 27, 10), "2026-05-27T17:00:00+01:00"),
    ],
)
def test_one_month(moment: datetime, expected: str) -> None:
    """Leeds s3 Step 2 para 2: "one month for the overall process to be completed". The month
    counts from the concern's working day and ends on a working day (issue 15, a project
    reading)."""
    assert iso(CAL.add_months(moment, 1)) == expected


def test_one_month_landing_on_part_day_closure_uses_that_days_cutoff() -> None:
    """Spec: a closure "2026-12-24T12:00" makes that day's cut-off 12:00, and "one month" is
    the same date next month at the cut-off, so 24 Nov + 1 month is 24 Dec 2026 12:00."""
    cal = WorkingCalendar.from_settings(time(17, 0), ["2026-12-24T12:00"])
    assert iso(cal.add_months(ldn(2026, 11, 24, 10), 1)) == "2026-12-24T12:00:00+00:00"


# -- working time between two moments, and pauses ------------------------------------------------
@pytest.mark.parametrize(
    "start, end, expected",
    [
        (ldn(2026, 3, 9, 10), ldn(2026, 3, 11, 10), 2),  # Mon 10:00 -> Wed 10:00
        (ldn(2026, 3, 9, 10), ldn(2026, 3, 9, 16), 0),  # within Monday
        (ldn(2026, 3, 9, 10), ldn(2026, 3, 9, 17), 1),  # Monday's cut-off reached
        (ldn(2026, 3, 6, 18), ldn(2026, 3, 9, 9), 0),  # Fri evening -> Mon morning
        (ldn(2026, 3, 6, 18), ldn(2026, 3, 9, 18), 1),  # only Monday's cut-off
        (ldn(2026, 4, 2, 10), ldn(2026, 4, 7, 10), 1),  # across Easter: only Thu 2 Apr
        (ldn(2026, 12, 24, 10), ldn(2026, 12, 29, 10), 1),  # Christmas 2026: only Thu 24 Dec
        (ldn(2026, 3, 11, 10), ldn(2026, 3, 9, 10), 0),  # end before start
    ],
)
def test_working_days_between(start: datetime, end: datetime, expected: int) -> None:
    assert CAL.working_days_between(start, end) == expected


def test_working_days_between_starting_exactly_at_cutoff() -> None:
    """Documented as the cut-offs in (start, end]: a pause from Mon 17:00 (Monday's cut-off
    itself, excluded) to Tue 10:00 contains no cut-off, so no working time passed."""
    assert CAL.working_days_between(ldn(2026, 3, 9, 17), ldn(2026, 3, 10, 10)) == 0


def test_pause_starting_exactly_at_cutoff_moves_nothing() -> None:
    """Paused at Mon 17:00 (Monday's working time already over), resumed Tue 10:00 (before
    Tuesday's cut-off): no working time was lost, so the due date must not move."""
    due = ldn(2026, 3, 13, 17)
    shifted = CAL.shift_after_pause(due, ldn(2026, 3, 9, 17), ldn(2026, 3, 10, 10), False)
    assert iso(shifted) == "2026-03-13T17:00:00+00:00"


def test_pause_of_two_working_days_moves_due_two_working_days() -> None:
    due = ldn(2026, 3, 13, 17)  # Fri 13 Mar
    shifted = CAL.shift_after_pause(due, ldn(2026, 3, 9, 10), ldn(2026, 3, 11, 10), False)
    assert iso(shifted) == "2026-03-17T17:00:00+00:00"  # Mon 16 (1), Tue 17 (2)


def test_pause_within_one_working_day_moves_nothing() -> None:
    due = ldn(2026, 3, 13, 17)
    shifted = CAL.shift_after_pause(due, ldn(2026, 3, 9, 10), ldn(2026, 3, 9, 15), False)
    assert iso(shifted) == "2026-03-13T17:00:00+00:00"


def test_pause_over_christmas_2026_counts_only_working_days() -> None:
    due = ldn(2026, 12, 30, 17)
    shifted = CAL.shift_after_pause(due, ldn(2026, 12, 24, 10), ldn(2026, 12, 29, 10), False)
    assert iso(shifted) == "2026-12-31T17:00:00+00:00"


def test_pause_moves_due_across_a_bank_holiday() -> None:
    due = ldn(2026, 4, 2, 17)  # Thu 2 Apr; one working day lost -> Tue 7 Apr
    shifted = CAL.shift_after_pause(due, ldn(2026, 3, 31, 9), ldn(2026, 4, 1, 9), False)
    assert iso(shifted) == "2026-04-07T17:00:00+01:00"


def test_resume_before_pause_moves_nothing() -> None:
    due = ldn(2026, 3, 13, 17)
    assert CAL.shift_after_pause(due, ldn(2026, 3, 11), ldn(2026, 3, 9), False) == due


def test_hours_rule_pause_shifts_by_wall_clock() -> None:
    due = ldn(2026, 3, 10, 9)  # a 24-hour rule due Tue 09:00
    shifted = CAL.shift_after_pause(due, ldn(2026, 3, 9, 12), ldn(2026, 3, 9, 20), True)
    assert iso(shifted) == "2026-03-10T17:00:00+00:00"  # 8 hours later, not snapped to a day
    # A pause over a weekend still counts every hour for an hours rule.
    due = ldn(2026, 3, 9, 12)
    shifted = CAL.shift_after_pause(due, ldn(2026, 3, 6, 18), ldn(2026, 3, 7, 18), True)
    assert iso(shifted) == "2026-03-10T12:00:00+00:00"
    assert shifted.utcoffset() == GMT


# -- naive datetimes ------------------------------------------------------------------------------
NAIVE = datetime(2026, 3, 9, 10, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: CAL.add_working_days(NAIVE, 1),
        lambda: CAL.same_working_day(NAIVE),
        lambda: CAL.working_day_of(NAIVE),
        lambda: CAL.add_hours(NAIVE, 24),
        lambda: CAL.add_months(NAIVE, 1),
        lambda: CAL.working_days_between(NAIVE, NAIVE + timedelta(days=2)),
        lambda: CAL.shift_after_pause(NAIVE, ldn(2026, 3, 9, 10), ldn(2026, 3, 11, 10), False),
    ],
    ids=["add_working_days", "same_working_day", "working_day_of", "add_hours", "add_months",
         "working_days_between", "shift_after_pause_due"],
)
def test_naive_datetime_rejected_with_clear_message(call) -> None:
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert "2026-03-09T10:00:00" in message
    assert "no timezone" in message


def test_naive_pause_times_rejected_for_hours_rule() -> None:
    """Spec: naive datetimes are rejected. A pause given in naive times must not be accepted
    silently just because the rule is in wall-clock hours."""
    due = ldn(2026, 3, 10, 9)
    with pytest.raises(ValueError, match="no timezone"):
        CAL.shift_after_pause(due, datetime(2026, 3, 9, 12), datetime(2026, 3, 9, 20), True)


# -- properties ---------------------------------------------------------------------------------
moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 6, 30),
    timezones=st.sampled_from([LONDON, UTC]),
)


@settings(max_examples=300, deadline=None)
@given(moment=moments, n=st.integers(min_value=0, max_value=40))
def test_add_working_days_lands_on_a_working_day_at_the_cutoff(moment: datetime, n: int) -> None:
    result = CAL.add_working_days(moment, n)
    assert result.tzinfo is not None
    local = result.astimezone(LONDON)
    assert local.weekday() < 5
    assert not CAL.is_bank_holiday(local.date())
    assert local.time() == time(17, 0)
    assert result >= moment
    assert CAL.working_day_of(result) == local.date()


@settings(max_examples=200, deadline=None)
@given(moment=moments, n=st.integers(min_value=0, max_value=30))
def test_add_working_days_is_strictly_monotone_in_n(moment: datetime, n: int) -> None:
    a, b = CAL.add_working_days(moment, n), CAL.add_working_days(moment, n + 1)
    assert a < b
    # Exactly one working day apart: nothing in between is a working day.
    day = a.astimezone(LONDON).date() + timedelta(days=1)
    while day < b.astimezone(LONDON).date():
        assert not CAL.is_working_day(day)
        day += timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(moment=moments)
def test_same_working_day_is_zero_working_days(moment: datetime) -> None:
    assert CAL.same_working_day(moment) == CAL.add_working_days(moment, 0)
