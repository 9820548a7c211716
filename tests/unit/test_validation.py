"""What the protocols forbid (workflows/validation.py), with the sentence a manager reads."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from protocols.messages import (
    AgreeTimescale,
    Assign,
    Bypass,
    ConfirmInWriting,
    LegalHold,
    Pause,
    RecordOutcome,
    ReportImmediateRisk,
    Resume,
    Withdraw,
)
from tests.unit.helpers import at, book_for, deadline, enter
from workflows import validation as check

BY = {"name": "Mo Manager"}
NOW = at("2030-03-05 09:00")


def refused(fn, *args) -> str:
    with pytest.raises(ApplicationError) as err:
        fn(*args)
    assert err.value.type == "Rejected" and err.value.non_retryable
    return err.value.message


def outcome(stage: str) -> RecordOutcome:
    return RecordOutcome(stage=stage, resolved=False, summary="x", by=BY)  # type: ignore[arg-type]


def agree(stage: str, **timescale: Any) -> AgreeTimescale:
    extra = {k: timescale.pop(k) for k in ("reason", "agreed_by", "deadline") if k in timescale}
    return AgreeTimescale(stage=stage, timescale=timescale, by=BY, **extra)  # type: ignore[arg-type]


def test_reject_is_a_non_retryable_rejection() -> None:
    assert refused(check.reject, "No.") == "No."
    assert check.REJECTED == "Rejected"


def test_nothing_is_recorded_on_a_closed_paused_or_resolved_case() -> None:
    book = book_for("york")
    check.check_outcome(book, outcome("1"))
    book.status, book.closed_at = "closed", at("2030-03-20 10:00")
    assert refused(check.check_outcome, book, outcome("1")) == (
        "This case is closed (2030-03-20); nothing more can be recorded on it.")
    book.closed_at = None
    book.status = "withdrawn"
    assert refused(check.check_withdraw, book, Withdraw(reason="x", by=BY)) == (  # type: ignore[arg-type]
        "This case is withdrawn (); nothing more can be recorded on it.")
    book.status, book.paused_reason = "paused", "Sickness"
    assert refused(check.check_outcome, book, outcome("1")) == (
        "The case is paused (Sickness). Resume it first.")
    book.status = "resolved"
    assert refused(check.check_pause, book, Pause(reason="x", by=BY)) == (  # type: ignore[arg-type]
        "The case has been resolved; only written confirmation of the outcome can still be "
        "recorded.")


def test_what_is_allowed_on_a_paused_or_resolved_case() -> None:
    book = book_for("leeds")
    for status in ("paused", "resolved"):
        book.status = status  # type: ignore[assignment]
        check.check_withdraw(book, Withdraw(reason="x", by=BY))  # type: ignore[arg-type]
        check.check_risk(book, ReportImmediateRisk(description="x", by=BY))  # type: ignore[arg-type]
        check.check_assign(book, Assign(role="raising", person={"name": "A"}, by=BY))  # type: ignore[arg-type]
    book.status = "paused"
    check.check_resume(book, Resume(by=BY))  # type: ignore[arg-type]
    for status in ("closed", "withdrawn"):
        book.status = status  # type: ignore[assignment]
        for fn, msg in [(check.check_risk, ReportImmediateRisk(description="x", by=BY)),
                        (check.check_assign, Assign(role="raising", person={"name": "A"},
                                                    by=BY)),
                        (check.check_resume, Resume(by=BY)),
                        (check.check_confirm, ConfirmInWriting(by=BY))]:  # type: ignore[arg-type]
            assert "nothing more can be recorded" in refused(fn, book, msg)


def test_outcome_for_the_current_stage_only() -> None:
    book = enter(book_for("york"), "2")
    check.check_outcome(book, outcome("2"))
    assert refused(check.check_outcome, book, outcome("1")) == (
        "Stage 1 is not the current stage: the case is at stage 2 (Direct line manager to line "
        "manager conversation). Record the outcome for stage 2.")
    assert refused(check.check_outcome, book, outcome("9")) == (
        "There is no stage '9' in the CYSCP protocol (stages: 1, 2, 3, 4).")


def test_bypass_rules_of_each_protocol() -> None:
    york = book_for("york")
    urgent = Bypass(to_stage="3", reason="r", by=BY, urgent=True)  # type: ignore[arg-type]
    check.check_bypass(york, urgent)
    assert refused(check.check_bypass, york, Bypass(to_stage="3", reason="r", by=BY)) == (  # type: ignore[arg-type]
        "The CYSCP protocol allows skipping stages only when the matter is urgent (York s5 "
        "para 3). Say that it is urgent, and why.")
    enter(york, "3")
    assert refused(check.check_bypass, york, urgent) == (
        "A bypass can only move the case forward: stage 3 is not after the current stage 3.")
    check.check_bypass(york, Bypass(to_stage="4", reason="r", by=BY, urgent=True))  # type: ignore[arg-type]
    assert "no stage '7'" in refused(check.check_bypass, york, Bypass(
        to_stage="7", reason="r", by=BY, urgent=True))  # type: ignore[arg-type]
    assert refused(check.check_bypass, book_for("dudley"), urgent.model_copy(
        update={"to_stage": "3a"})) == (
        "The DSCB protocol does not allow stages to be bypassed (Dudley s4 table; s1 para 5). "
        "Agree a shorter timescale instead.")
    barnsley = book_for("barnsley")
    both = Bypass(to_stage="3", reason="r", by=BY, agreed_by=["A", "B"],  # type: ignore[arg-type]
                  agreement_of=[" Professionals ", "MANAGERS"])
    check.check_bypass(barnsley, both)  # not urgent: Barnsley asks for agreement instead
    needed = ("A bypass needs the agreement of the professionals and managers involved "
              "(Barnsley 3.3); record who agreed.")
    assert refused(check.check_bypass, barnsley, both.model_copy(
        update={"agreement_of": ["professionals"]})) == needed
    assert refused(check.check_bypass, barnsley, both.model_copy(update={"agreed_by": []})) \
        == needed


def test_pause_and_resume() -> None:
    book = book_for("leeds")
    check.check_pause(book, Pause(reason="x", by=BY))  # type: ignore[arg-type]
    assert refused(check.check_resume, book, Resume(by=BY)) == "The case is not paused."  # type: ignore[arg-type]
    book.status = "paused"
    assert "Resume it first" in refused(check.check_pause, book, Pause(reason="x", by=BY))  # type: ignore[arg-type]


def leeds_stage_1(**more: Any):
    book = book_for("leeds")
    enter(book, "1")
    book.deadlines["1/resolve"] = deadline("1/resolve", stage="1", due="2030-03-18 17:00",
                                           latest_allowed=at("2030-03-18 17:00"), **more)
    return book


def test_agreed_timescales_within_the_protocol() -> None:
    book = leeds_stage_1()
    check.check_agree_timescale(book, agree("1", kind="working_days", amount=10), NOW)
    check.check_agree_timescale(book, agree("1", kind="same_working_day"), NOW)
    check.check_agree_timescale(book, agree("1", kind="hours", amount=24), NOW)
    # The bounds where the document sets none are the project's default, said so (issue 16).
    for hours in (0, 400):
        check.check_agree_timescale(book, agree("1", kind="hours", amount=hours), NOW)
        assert refused(check.check_agreed_bounds, book, agree("1", kind="hours",
                                                              amount=hours)) == (
            f"An agreed timescale is a number of hours from 1 to 365; {hours} was given (not "
            "set by the document; the project's default). The protocol's own limit for the "
            "stage, where it sets one, is shown by `resolutions status` and on the case page.")
    check.check_agree_timescale(book, agree("1", kind="until",
                                            until=at("2030-03-18 17:00")), NOW)
    # Leeds' 10 working days are "where possible" / "ideally" (s3 Step 2 para 2, s4 bullet 1):
    # more is accepted only with who agreed it and why ("agreed and recorded", s4 bullet 1).
    soft = ("The LSCP protocol asks for at most 10 working days where possible (s1); a longer "
            "timescale must be agreed and recorded (Leeds s4 bullet 1): say who agreed it and "
            "why.")
    assert refused(check.check_agree_timescale, book,
                   agree("1", kind="working_days", amount=11), NOW) == soft
    assert refused(check.check_agree_timescale, book,
                   agree("1", kind="until", until=at("2030-03-18 17:01")), NOW) == soft
    assert refused(check.check_agree_timescale, book, agree(
        "1", kind="working_days", amount=11, reason="Waiting for the strategy meeting"),
        NOW) == soft
    check.check_agree_timescale(book, agree("1", kind="working_days", amount=15,
                                            reason="Strategy meeting on the 25th",
                                            agreed_by=["Rae Raiser", "Rob Receiver"]), NOW)
    # York stage 2's "5 working days ... (whichever is less)" stays a hard maximum.
    york = book_for("york")
    enter(york, "2")
    york.deadlines["2/resolve"] = deadline("2/resolve", stage="2", due="2030-03-11 17:00",
                                           latest_allowed=at("2030-03-11 17:00"))
    assert refused(check.check_agree_timescale, york, agree(
        "2", kind="working_days", amount=6, reason="x", agreed_by=["Lee"]), NOW) == (
        "The protocol allows at most 5 working days for this stage (s1); 6 were asked for.")
    assert refused(check.check_agree_timescale, york, agree(
        "2", kind="until", until=at("2030-03-11 17:01"), reason="x", agreed_by=["Lee"]),
        NOW) == ("The protocol allows at most 5 working days for this stage (s1); the latest "
                 "date is 2030-03-11T17:00:00+00:00.")
    assert refused(check.check_agree_timescale, book, agree("1", kind="working_days"), NOW) \
        == "Say how many working days were agreed."
    assert refused(check.check_agree_timescale, book, agree("1", kind="hours"), NOW) \
        == "Say how many hours were agreed."
    assert refused(check.check_agree_timescale, book, agree("1", kind="until"), NOW) \
        == "Give the agreed date and time."
    naive = agree("1", kind="until", until=at("2030-03-10 12:00").replace(tzinfo=None))
    assert refused(check.check_agree_timescale, book, naive, NOW) == \
        "The agreed date needs a time zone."
    assert refused(check.check_agree_timescale, book, agree("1", kind="until", until=NOW), NOW) \
        == "The agreed date is in the past."
    assert refused(check.check_agree_timescale, book, agree("2", kind="same_working_day"),
                   NOW) == "Timescales can be agreed for the current stage only (stage 1), not " \
                           "stage 2."
    assert "no stage '5'" in refused(check.check_agree_timescale, book,
                                     agree("5", kind="same_working_day"), NOW)


def test_an_extension_says_why_and_who_agreed() -> None:
    from protocols.deadlines import AgreedTimescale

    book = leeds_stage_1(agreed=AgreedTimescale(kind="working_days", amount=3))
    assert refused(check.check_agree_timescale, book,
                   agree("1", kind="working_days", amount=5), NOW) == (
        "Changing an agreed timescale is an extension: say why, and who agreed it.")
    assert refused(check.check_agree_timescale, book,
                   agree("1", kind="working_days", amount=5, reason="Meeting moved"), NOW) == (
        "Record who agreed the extension.")
    check.check_agree_timescale(book, agree("1", kind="working_days", amount=5,
                                            reason="Meeting moved", agreed_by=["A"]), NOW)


def test_only_agreed_timescales_can_be_agreed() -> None:
    york = book_for("york")
    enter(york, "2")
    york.deadlines = {d.key: d for d in [
        deadline("2/discuss_with_line_managers", stage="2", due="2030-03-04 17:00"),
        deadline("2/resolve", stage="2", due="2030-03-11 17:00"),
    ]}
    assert check.find_agreeable(york, "").key == "2/resolve"
    assert check.find_agreeable(york, "resolve").key == "2/resolve"
    assert refused(check.find_agreeable, york, "discuss_with_line_managers") == (
        "Stage 2 of the CYSCP protocol has no timescale to agree called "
        "'discuss_with_line_managers'; its timescales are fixed by the document.")
    york.deadlines["2/resolve"].status = "met"
    assert refused(check.find_agreeable, york, "") == (
        "Stage 2 of the CYSCP protocol has no timescale to agree; its timescales are fixed by "
        "the document.")
    york.deadlines["2/resolve"].status = "pending"
    fixed = agree("2", kind="working_days", amount=2, deadline="discuss_with_line_managers")
    assert "no timescale to agree called 'discuss_with_line_managers'" in refused(
        check.check_agree_timescale, york, fixed, NOW)
    enter(york, "1")
    assert "Stage 1 of the CYSCP protocol has no timescale" in refused(
        check.check_agree_timescale, york, agree("1", kind="working_days", amount=2), NOW)


def test_roles_that_can_be_handed_over() -> None:
    book = book_for("swindon")
    keys = check.role_keys(book)
    assert keys[:4] == ["raising", "receiving", "1.raising", "1.receiving"]
    assert keys[-2:] == ["panel.raising", "panel.receiving"] and len(keys) == 2 + 2 * 6
    check.check_assign(book, Assign(role="3.receiving", person={"name": "A"}, by=BY))  # type: ignore[arg-type]
    assert refused(check.check_assign, book, Assign(role="9.raising", person={"name": "A"},  # type: ignore[arg-type]
                                                    by=BY)) == (
        f"'9.raising' is not a role in this case; use one of: {', '.join(keys)}.")
    assert refused(check.check_assign, book, Assign(role="raising", person={"name": ""},  # type: ignore[arg-type]
                                                    by=BY)) == (
        "Give the name of the person taking over the role.")


def test_written_confirmation_only_when_awaited() -> None:
    book = book_for("york")
    assert refused(check.check_confirm, book, ConfirmInWriting(by=BY)) == (  # type: ignore[arg-type]
        "No written confirmation is awaited on this case: it is due once an outcome has been "
        "recorded as resolved.")
    book.status = "resolved"
    book.deadlines["duty/2/written_confirmation"] = deadline(
        "duty/2/written_confirmation", kind="duty", stage="2")
    book.deadlines["duty/2/learning_dissemination"] = deadline(
        "duty/2/learning_dissemination", kind="duty", stage="2")
    check.check_confirm(book, ConfirmInWriting(by=BY))  # type: ignore[arg-type]
    check.check_confirm(book, ConfirmInWriting(duty="written_confirmation", by=BY))  # type: ignore[arg-type]
    assert refused(check.check_confirm, book, ConfirmInWriting(duty="debrief", by=BY)) == (  # type: ignore[arg-type]
        "'debrief' is not awaited; awaited: written_confirmation, learning_dissemination.")
    book.status = "paused"
    check.check_confirm(book, ConfirmInWriting(by=BY))  # type: ignore[arg-type]


def test_legal_hold_changes_only() -> None:
    book = book_for("york")
    check.check_legal_hold(book, LegalHold(on=True, reason="x", by=BY))  # type: ignore[arg-type]
    assert refused(check.check_legal_hold, book, LegalHold(on=False, reason="x", by=BY)) == (  # type: ignore[arg-type]
        "The case is already off legal hold.")
    book.legal_hold = True
    assert refused(check.check_legal_hold, book, LegalHold(on=True, reason="x", by=BY)) == (  # type: ignore[arg-type]
        "The case is already on legal hold.")
    book.status = "closed"
    check.check_legal_hold(book, LegalHold(on=False, reason="x", by=BY))  # type: ignore[arg-type]
