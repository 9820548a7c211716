"""The case book (workflows/book.py): what it reports from the record it holds."""

from __future__ import annotations

from protocols.messages import Party, Person
from tests.unit.helpers import RAISING, RECEIVING, at, book_for, deadline, enter

LEE = Person(name="Lee Manager", role="Line manager", agency="Example Primary School",
             email="lee@school.example")


def test_a_new_book_holds_the_raise() -> None:
    book = book_for("leeds", holders={"2.raising": LEE}, legal_hold=True)
    assert book.workflow_id == "leeds-2030-0001"
    assert book.protocol.id == "leeds"
    assert book.status == "open" and not book.closed
    assert book.stage_id == "1" and book.stage.name == "Practitioner to practitioner"
    assert book.stage_entered_at == at("2030-03-04 09:00")
    assert book.stages_visited == [] and book.deadlines == {} and book.timeline == []
    assert book.holders == {"raising": RAISING, "receiving": RECEIVING, "2.raising": LEE}
    assert book.outcomes == [] and book.not_notified == []
    assert book.immediate_risk is False
    assert book.paused_at is None and book.paused_reason == ""
    assert book.closed_at is None and book.closing_summary == ""
    assert book.legal_hold is True
    assert book_for("york").legal_hold is False
    assert book_for("york", urgency="immediate-risk").immediate_risk is True
    assert book_for("york", urgency="urgent").immediate_risk is False


def test_closed_means_closed_or_withdrawn() -> None:
    book = book_for("york")
    for status, closed in [("open", False), ("paused", False), ("resolved", False),
                           ("closed", True), ("withdrawn", True)]:
        book.status = status  # type: ignore[assignment]
        assert book.closed is closed, status


def test_stage_deadlines_awaited_duties_overdue_next() -> None:
    book = enter(book_for("york"), "2")
    book.deadlines = {d.key: d for d in [
        deadline("1/conversation", stage="1", due="2030-03-01 17:00", status="breached"),
        deadline("2/resolve", stage="2", due="2030-03-11 17:00"),
        deadline("2/discuss", stage="2", due="2030-03-04 17:00", status="met"),
        deadline("overall", kind="overall", stage=None, due="2030-03-20 17:00"),
        deadline("duty/2/written", kind="duty", stage="2", due="2030-03-08 17:00"),
        deadline("duty/2/old", kind="duty", stage="2", due="2030-03-01 17:00",
                 status="cancelled"),
    ]}
    assert [d.key for d in book.stage_deadlines()] == ["2/resolve", "2/discuss"]
    assert [d.key for d in book.stage_deadlines("1")] == ["1/conversation"]
    assert [d.key for d in book.awaited_duties()] == ["duty/2/written"]
    # Only live deadlines count; one due exactly now is overdue.
    assert book.overdue(at("2030-03-08 16:59")) is False
    assert book.overdue(at("2030-03-08 17:00")) is True
    assert book.next_deadline() == at("2030-03-08 17:00")
    book.deadlines["duty/2/written"].status = "met"
    assert book.next_deadline() == at("2030-03-11 17:00")
    assert book.overdue(at("2030-03-10 12:00")) is False
    for d in book.deadlines.values():
        d.status = "met"
    assert book.next_deadline() is None and book.overdue(at("2031-01-01 00:00")) is False


def test_next_wake_is_the_earliest_reminder_deadline_or_nudge() -> None:
    book = book_for("york")
    assert book.next_wake() is None
    book.deadlines = {d.key: d for d in [
        deadline("1/a", due="2030-03-11 17:00", remind_at=at("2030-03-08 17:00")),
        deadline("1/b", due="2030-03-12 17:00", remind_at=at("2030-03-06 17:00"), reminded=True),
        deadline("1/c", due="2030-03-05 17:00", status="met"),
    ]}
    assert book.next_wake() == at("2030-03-08 17:00")
    book.deadlines["1/a"].reminded = True
    assert book.next_wake() == at("2030-03-11 17:00")
    # An expired deadline only waits for its nudge; one awaiting agreement for its own nudge.
    book.deadlines["1/a"].status = "expired"
    book.deadlines["1/a"].next_nudge = at("2030-03-13 17:00")
    assert book.next_wake() == at("2030-03-12 17:00")
    book.deadlines["1/b"].status = "awaiting_agreement"
    book.deadlines["1/b"].due = None
    book.deadlines["1/b"].next_nudge = at("2030-03-07 17:00")
    assert book.next_wake() == at("2030-03-07 17:00")
    book.deadlines["1/c"].next_nudge = at("2030-03-01 17:00")  # not live: ignored
    assert book.next_wake() == at("2030-03-07 17:00")
    book.status = "paused"
    assert book.next_wake() is None
    book.status = "closed"
    assert book.next_wake() is None


def test_holders_and_role_titles() -> None:
    school = Party(**RAISING.model_dump(), kind="school")
    book = book_for("dudley", raising=school, holders={"2.raising": LEE})
    assert book.holder_label("2.raising") == "Lee Manager, Line manager, Example Primary School"
    assert book.holder_label("2.receiving") == ""
    stage_1, stage_2 = book.protocol.stage("1"), book.protocol.stage("2")
    assert book.role_title(stage_1, "raising") == stage_1.raising.title
    assert book.role_title(stage_1, "receiving") == stage_1.receiving.title
    # Dudley s4 Stage 2 NOTE: "If one of the agencies is a school, the Head teacher/Principal
    # will deal with this stage (as well as stage 3)": the school's side only.
    for stage_id in ("2", "3a", "3b"):
        stage = book.protocol.stage(stage_id)
        assert book.role_title(stage, "raising") == "Head teacher / Principal"
        assert book.role_title(stage, "receiving") == stage.receiving.title
    plain = book_for("dudley")
    assert plain.role_title(stage_2, "receiving") == stage_2.receiving.title
    assert plain.role_title(stage_2, "raising") == stage_2.raising.title


def test_expected_next_says_who_acts() -> None:
    book = enter(book_for("leeds", holders={"2.raising": LEE}), "2")
    book.deadlines = {d.key: d for d in [
        deadline("2/done", stage="2", due="2030-03-11 17:00", status="met"),
        deadline("2/resolve", stage="2", due=None, status="awaiting_agreement"),
        deadline("2/other", stage="2", due="2030-03-11 17:00"),
    ]}
    assert book.expected_next(at("2030-03-05 09:00")) == [
        "Both: agree a timescale for 'do 2/resolve'",
        "Both: do 2/other",
        "Record the outcome of stage 2: Line manager (raising agency) (Lee Manager, Line "
        "manager, Example Primary School) with Line manager (receiving agency)",
    ]
    book.status = "paused"
    book.paused_reason = "Sickness"
    assert book.expected_next(at("2030-03-05 09:00")) == [
        "Resume the case when possible (paused: Sickness)"]
    book.status = "resolved"
    book.deadlines["duty/2/w"] = deadline("duty/2/w", kind="duty", stage="2")
    assert book.expected_next(at("2030-03-05 09:00")) == ["Both: do duty/2/w"]
    book.status = "withdrawn"
    assert book.expected_next(at("2030-03-05 09:00")) == []


def test_expected_next_names_both_holders() -> None:
    book = book_for("york", holders={"1.raising": LEE, "1.receiving": RECEIVING})
    enter(book, "1")
    assert book.expected_next(at("2030-03-04 10:00")) == [
        "Record the outcome of stage 1: Practitioner raising the concern (Lee Manager, Line "
        "manager, Example Primary School) with Practitioner / decision maker (Rob Receiver, "
        "Social worker, Children's Social Care)"]


def test_expected_next_with_nobody_named() -> None:
    book = enter(book_for("york"), "2")
    assert book.expected_next(at("2030-03-04 10:00")) == [
        "Record the outcome of stage 2: Line manager (raising agency) with Line manager "
        "(receiving agency)"]


def test_events_are_numbered_and_keep_only_given_details() -> None:
    book = enter(book_for("york"), "2")
    first = book.event(at("2030-03-04 09:00"), "raised", "Raised", stage="")
    second = book.event(at("2030-03-04 09:01"), "nudge", "Nudge", actor="Mo", via="timer",
                        deadline="2/resolve", empty="")
    assert (first.seq, first.stage, first.actor, first.via) == (1, "", "system", "system")
    assert (second.seq, second.stage, second.actor, second.via) == (2, "2", "Mo", "timer")
    assert second.details == {"deadline": "2/resolve"}
    assert first.details == {}
    assert book.timeline == [first, second]
    assert (second.kind, second.summary, second.at) == ("nudge", "Nudge", at("2030-03-04 09:01"))


def test_cancelling_a_stage_breaches_what_had_passed() -> None:
    book = book_for("york")
    book.deadlines = {d.key: d for d in [
        deadline("1/a", stage="1"), deadline("1/b", stage="1", status="expired"),
        deadline("1/c", stage="1", status="met"),
        deadline("1/d", stage="1", status="awaiting_agreement"),
        deadline("2/a", stage="2"),
    ]}
    enter(book, "2")  # the stage left behind, not the current one
    book.cancel_stage_deadlines("1")
    assert {k: d.status for k, d in book.deadlines.items()} == {
        "1/a": "cancelled", "1/b": "breached", "1/c": "met", "1/d": "cancelled",
        "2/a": "pending"}


def test_snapshot_copies_the_record() -> None:
    from protocols.messages import Outcome

    book = enter(book_for("swindon", holders={"2.raising": LEE},
                          retention_class="extended"), "2")
    book.stages_visited.insert(0, "1")
    book.outcomes.append(Outcome(stage="1", resolved=False, at=at("2030-03-04 10:00"),
                                 by={"name": "Mo"}, summary="No"))  # type: ignore[arg-type]
    book.deadlines["2/discussion"] = deadline("2/discussion", stage="2", due="2030-03-11 17:00")
    book.not_notified.append("x: y not notified")
    book.immediate_risk = True
    book.paused_reason = "Leave"
    book.closing_summary = "done"
    book.closed_at = at("2030-03-20 10:00")
    book.legal_hold = True
    state = book.snapshot(at("2030-03-05 09:00"))
    assert state.workflow_id == "swindon-2030-0001" and state.reference == "2030-0001"
    assert state.protocol == "swindon" and state.protocol_hash == book.inp.protocol_hash
    assert state.partnership == "Swindon Safeguarding Partnership"
    assert state.status == "open" and state.urgency == "standard"
    assert (state.stage, state.stage_name) == ("2", "Inter-agency discussion")
    assert state.stage_entered_at == at("2030-03-04 09:00")
    assert state.stages_visited == ["1", "2"]
    assert state.immediate_risk is True and state.paused_reason == "Leave"
    assert [d.key for d in state.deadlines] == ["2/discussion"]
    assert state.expected_next == book.expected_next(at("2030-03-05 09:00"))
    assert state.holders["2.raising"] == LEE and state.holders["raising"] == RAISING
    assert state.not_notified == ["x: y not notified"]
    assert [o.summary for o in state.outcomes] == ["No"]
    assert state.closed_at == at("2030-03-20 10:00") and state.closing_summary == "done"
    assert state.retention_class == "extended"
    assert state.legal_hold is True
    # A copy: later changes to the book do not reach a snapshot already taken.
    book.deadlines["2/discussion"].status = "met"
    book.stages_visited.append("3")
    book.not_notified.append("more")
    book.holders["3.raising"] = LEE
    assert state.deadlines[0].status == "pending"
    assert state.stages_visited == ["1", "2"] and state.not_notified == ["x: y not notified"]
    assert "3.raising" not in state.holders
