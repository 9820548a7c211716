"""Timescales into instants (protocols/deadlines.py) and the calendar's less-used corners.

Expected instants are worked out by hand on a 2030 calendar: Easter Monday is 22 April, BST
runs from 31 March; a working day ends at 17:00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

import pytest

from protocols.calendar import CompressedCalendar, WorkingCalendar
from protocols.deadlines import AgreedTimescale, due_for, due_for_agreed, latest_allowed, plan
from protocols.loader import load_protocol
from protocols.schema import Timescale
from tests.unit.helpers import at

CAL = WorkingCalendar()


def ts(kind: str, **more) -> Timescale:
    return Timescale(kind=kind, **more)  # type: ignore[arg-type]


def test_due_for_each_kind_of_timescale() -> None:
    assert due_for(CAL, ts("same_working_day"), at("2030-03-04 18:00")) == at("2030-03-05 17:00")
    assert due_for(CAL, ts("working_days", amount=0), at("2030-03-04 10:00")) == \
        at("2030-03-04 17:00")
    assert due_for(CAL, ts("working_days", amount=2), at("2030-03-01 10:00")) == \
        at("2030-03-05 17:00")
    assert due_for(CAL, ts("hours", amount=0), at("2030-03-04 10:00")) == at("2030-03-04 10:00")
    assert due_for(CAL, ts("hours", amount=24), at("2030-03-04 09:00")) == at("2030-03-05 09:00")
    assert due_for(CAL, ts("calendar_months", amount=0), at("2030-03-04 10:00")) == \
        at("2030-03-04 17:00")
    assert due_for(CAL, ts("calendar_months", amount=1), at("2030-01-31 10:00")) == \
        at("2030-02-28 17:00")  # clamped to the month's end
    assert due_for(CAL, ts("agreed", max_working_days=10, default_working_days=10),
                   at("2030-03-04 09:00")) == at("2030-03-18 17:00")
    assert due_for(CAL, ts("agreed", max_working_days=10), at("2030-03-04 09:00")) is None
    assert due_for(CAL, ts("asap"), at("2030-03-04 09:00")) is None
    assert due_for(CAL, ts("none"), at("2030-03-04 09:00")) is None


def test_an_agreed_timescale_replaces_the_documents() -> None:
    three_hours = AgreedTimescale(kind="hours", amount=3)
    assert due_for(CAL, ts("working_days", amount=5), at("2030-03-04 09:00"), three_hours) == \
        at("2030-03-04 12:00")
    start = at("2030-03-04 09:00")
    assert due_for_agreed(CAL, AgreedTimescale(kind="same_working_day"), start) == \
        at("2030-03-04 17:00")
    assert due_for_agreed(CAL, AgreedTimescale(kind="working_days", amount=2), start) == \
        at("2030-03-06 17:00")
    assert due_for_agreed(CAL, AgreedTimescale(kind="working_days"), start) == \
        at("2030-03-04 17:00")
    assert due_for_agreed(CAL, AgreedTimescale(kind="hours", amount=5), start) == \
        at("2030-03-04 14:00")
    assert due_for_agreed(CAL, AgreedTimescale(kind="hours"), start) == start
    until = at("2030-03-07 12:00")
    assert due_for_agreed(CAL, AgreedTimescale(kind="until", until=until), start) == until
    with pytest.raises(ValueError, match="^an agreed date is missing$"):
        due_for_agreed(CAL, AgreedTimescale(kind="until"), start)


def test_latest_allowed_is_the_maximum_counted_from_the_clock() -> None:
    start = at("2030-03-04 09:00")
    assert latest_allowed(CAL, ts("agreed", max_working_days=10), start) == \
        at("2030-03-18 17:00")
    assert latest_allowed(CAL, ts("agreed", max_working_days=0), start) == at("2030-03-04 17:00")
    assert latest_allowed(CAL, ts("agreed", default_working_days=5), start) is None
    assert latest_allowed(CAL, ts("working_days", amount=5), start) is None


def test_agreed_timescales_describe_themselves() -> None:
    assert AgreedTimescale(kind="same_working_day").describe() == \
        "immediately (same working day)"
    assert AgreedTimescale(kind="working_days", amount=5).describe() == "5 working days"
    assert AgreedTimescale(kind="hours", amount=24).describe() == "24 hours"
    assert AgreedTimescale(kind="until", until=at("2030-03-05 12:00")).describe() == \
        "until 2030-03-05T12:00:00+00:00"
    assert AgreedTimescale(kind="until").describe() == "until ?"


def test_plan_shows_duties_without_a_timescale_and_the_overall_limit() -> None:
    york = plan(load_protocol("york"), CAL, at("2030-03-04 09:00"))
    stage_3 = next(s for s in york.stages if s.stage == "3")
    referral = next(r for r in stage_3.deadlines if "learning points" in r.what)
    assert referral.what.startswith("If resolved at this stage: ")
    assert (referral.due, referral.timescale, referral.on_expiry) == (None, "no timescale",
                                                                       "remind")
    # Stage 2 (5 working days from Mon 4 Mar) ends Mon 11th; confirmation two working days on.
    stage_2 = next(s for s in york.stages if s.stage == "2")
    confirm = next(r for r in stage_2.deadlines if "Confirm the outcome" in r.what)
    assert (stage_2.ends, confirm.due, confirm.timescale) == (
        at("2030-03-11 17:00"), at("2030-03-13 17:00"), "2 working days")
    leeds = plan(load_protocol("leeds"), CAL, at("2030-02-25 11:00"))
    [overall] = leeds.overall
    assert (overall.who, overall.due, overall.on_expiry) == (
        "All parties", at("2030-03-25 17:00"),
        "recorded as a breach; the parties are told; the case carries on")
    # Swindon stage 1 counts from the concern; started later it would still.
    swindon = plan(load_protocol("swindon"), CAL, at("2030-03-01 10:00"))
    assert swindon.stages[0].deadlines[0].due == at("2030-03-05 17:00")


# -- the working-day calendar ---------------------------------------------------------------------
def test_previous_working_day_and_reminders_before_a_deadline() -> None:
    assert CAL.previous_working_day(date(2030, 4, 23)) == date(2030, 4, 18)  # Easter
    assert CAL.previous_working_day(date(2030, 3, 4)) == date(2030, 3, 1)  # weekend
    assert CAL.previous_working_day(date(2030, 3, 5)) == date(2030, 3, 4)
    # Christmas Day 2029 is a Tuesday: one day back from Boxing Day, not two.
    assert CAL.previous_working_day(date(2029, 12, 26)) == date(2029, 12, 24)
    # Same wall-clock time, in London (BST here), n working days before.
    assert CAL.working_days_before(at("2030-04-23 17:00"), 1) == at("2030-04-18 17:00")
    assert CAL.working_days_before(at("2030-06-05 17:00"), 2) == at("2030-06-03 17:00")
    assert CAL.working_days_before(at("2030-06-05 17:00"), 0) == at("2030-06-05 17:00")
    assert CAL.working_days_before(datetime(2030, 6, 5, 16, tzinfo=UTC), 1) == \
        at("2030-06-04 17:00")


def test_negative_working_days_and_times_without_a_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="^working days to add must be zero or more$"):
        CAL.add_working_days(at("2030-03-04 09:00"), -1)

    class NoOffset(tzinfo):
        def utcoffset(self, dt):  # noqa: ANN001, ANN201 - tzinfo API
            return None

    for moment in (datetime(2030, 3, 4, 9), datetime(2030, 3, 4, 9, tzinfo=NoOffset())):
        with pytest.raises(ValueError, match="has no timezone; give an offset or 'Z'"):
            CAL.same_working_day(moment)


def test_compressed_calendar_for_benchmarks() -> None:
    """Every day a working day of 10 s: day i runs (10i, 10(i+1)], its cut-off at the end."""
    cal = CompressedCalendar(day_seconds=10)

    def t(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, tz=UTC)

    assert cal.cutoff_of(2) == t(30)
    assert cal.same_working_day(t(25)) == t(30)
    assert cal.same_working_day(t(30)) == t(30)  # at the cut-off: still its own day
    assert cal.same_working_day(t(30.5)) == t(40)
    assert cal.add_working_days(t(25), 3) == t(60)
    assert cal.add_working_days(t(30), 0) == t(30)
    assert cal.add_hours(t(25), 4) == t(30)  # an 8-hour day
    assert cal.add_months(t(25), 1) == t(240)  # 21 working days
    assert cal.add_months(t(25), 2) == t(450)
    assert cal.working_days_before(t(60), 2) == t(40)
    assert cal.working_days_between(t(25), t(60)) == 3
    assert cal.working_days_between(t(60), t(25)) == 0
    assert cal.shift_after_pause(t(60), t(25), t(47), wall_clock=False) == t(82)
    assert cal.shift_after_pause(t(60), t(47), t(25), wall_clock=True) == t(60)
    assert cal.cutoff_of(0).tzinfo is not None
    assert cal.add_working_days(t(25), 1) - cal.add_working_days(t(25), 0) == timedelta(
        seconds=10)
