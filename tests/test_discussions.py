"""Discussions and contacts recorded without moving the case; in-stage steps marked done.

On the time-skipping server with the real worker. Managers act with the `resolutions`
command (`record-discussion`, `mark-step-done`, as a subprocess); the forms are printed with
`resolutions form`. Dates are 2030 (GMT until 31 March, BST after).
"""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowHandle

from tests.conftest import keep_history, make_worker, skip_to, wait_for
from tests.mail_cases import (
    HEAD_A,
    HEAD_B,
    LINE_MANAGER_A,
    LINE_MANAGER_B,
    RAISING,
    RECEIVING,
    actor,
    at,
    attachments,
    form_via_cli,
    outcome,
    raise_case,
    row_cells,
    run_cli,
    send,
    text_of,
)
from workflows.disagreement import DisagreementWorkflow

SWINDON_HOLDERS = {"1.receiving": LINE_MANAGER_A, "2.raising": RAISING, "2.receiving": RECEIVING,
                   "3.raising": LINE_MANAGER_A, "3.receiving": LINE_MANAGER_B,
                   "4.raising": HEAD_A, "4.receiving": HEAD_B, "5.raising": HEAD_A}


async def _state(handle: WorkflowHandle) -> dict[str, Any]:
    return (await handle.query(DisagreementWorkflow.state)).model_dump(mode="json")


def _clocks(state: dict[str, Any]) -> list[tuple]:
    return [(d["key"], d["status"], d["due"], d["remind_at"], d["next_nudge"])
            for d in state["deadlines"]]


async def _timeline(handle: WorkflowHandle) -> list[Any]:
    return list(await handle.query(DisagreementWorkflow.timeline))


# -- record-discussion ---------------------------------------------------------------------
async def test_a_discussion_at_stage_2_is_recorded_without_moving_the_case(
        skipping_env, settings, mailbox, tmp_path) -> None:
    """Swindon s3 para 7: "All communication between agencies, from Stage 2 onwards, should
    be documented"; Appendix 1 asks "Date Contact Made" and "How did you contact them"."""
    env = skipping_env
    async with make_worker(env.client, settings):
        case = await raise_case(env, "swindon", "2030-03-04 09:00", holders=SWINDON_HOLDERS,
                                arose=at("2030-03-04 09:00"))
        await outcome(env, case, "2030-03-05 15:00", "1", LINE_MANAGER_A,
                      "Line manager agrees the concern should go to CSC.")
        await skip_to(env, at("2030-03-06 11:00"))
        before = await wait_for(lambda: _ready(case, "2"))
        code, out, err = await run_cli(
            env, "record-discussion", case.id, "--at", "2030-03-06T10:30",
            "--with", RECEIVING.name, "--with-title", RECEIVING.role,
            "--with-agency", RECEIVING.agency, "--how", "phone",
            "--said", "Explained the missed appointments.",
            "--agreed", "Tom will review the file by Friday.",
            "--approved-by", LINE_MANAGER_A.name, "--by", RAISING.name, tmp_path=tmp_path)
        assert code == 0, err
        assert "the case stays at stage 2" in out, out
        after = await _state(case)
        # Nothing moved: the stage, and every deadline's instants; only stage 2's contact
        # deadline ("When", s4 Stage 2) is met by the contact recorded in time (issue 15).
        assert after["stage"] == "2" and after["stage_entered_at"] == before["stage_entered_at"]
        met = [c for c in _clocks(before) if c[0] == "2/contact"]
        assert [(k, "met", *rest) for k, _, *rest in met] == [
            c for c in _clocks(after) if c[0] == "2/contact"]
        assert [c for c in _clocks(after) if c[0] != "2/contact"] == [
            c for c in _clocks(before) if c[0] != "2/contact"]
        [talk] = after["discussions"]
        assert talk["stage"] == "2" and talk["method"] == "phone"
        assert talk["approved_by"] == LINE_MANAGER_A.name and talk["by"]["name"] == RAISING.name

        code, shown, err = await run_cli(env, "timeline", case.id, tmp_path=tmp_path)
        assert code == 0, err
        line = next(ln for ln in shown.splitlines() if "discussion recorded" in ln)
        assert "Tom Reed" in line and "Wed 06 Mar 2030 10:30" in line, shown

        # The stage-2 deadline still falls when it did: five working days after stage 1.
        stage2_due = next(d["due"] for d in before["deadlines"] if d["key"] == "2/discussion")
        await skip_to(env, at("2030-03-13 09:00"))
        moved = await _state(case)
        assert moved["stage"] == "3"
        assert next(d for d in moved["deadlines"] if d["key"] == "2/discussion") \
            ["status"] == "breached"
        page = await form_via_cli(env, case.id, "swindon_appendix_1", tmp_path)
    assert stage2_due.startswith("2030-03-12")
    # Appendix 1's row for stage 2 comes from the record: when, with whom, how.
    assert row_cells(page, "2")[1:4] == [
        "06/03/2030", "Tom Reed, Social Worker, Children's Social Care", "Telephone"]
    # Nothing was recorded at stage 1: the form says so rather than guessing.
    assert row_cells(page, "1")[1] == "not recorded"
    assert row_cells(page, "1")[3] == "not recorded"


async def _ready(handle: WorkflowHandle, stage: str) -> dict[str, Any] | None:
    state = await _state(handle)
    return state if state["stage"] == stage else None


async def test_leeds_appendix_3_lists_the_discussions_among_the_steps_taken(
        skipping_env, settings, mailbox, tmp_path) -> None:
    """Leeds Appendix 3, "Summary of notification ... Steps taken to date"."""
    env = skipping_env
    async with make_worker(env.client, settings):
        case = await raise_case(env, "leeds", "2030-06-03 09:00", reference="2030-0107",
                                holders={"2.raising": LINE_MANAGER_A,
                                         "2.receiving": LINE_MANAGER_B,
                                         "3a.raising": HEAD_A, "3a.receiving": HEAD_B})
        await skip_to(env, at("2030-06-05 14:00"))
        await wait_for(lambda: _ready(case, "1"))
        code, _, err = await run_cli(
            env, "discussion", case.id, "--at", "2030-06-05T12:15", "--with", RECEIVING.name,
            "--with-title", RECEIVING.role, "--how", "meeting",
            "--said", "Met at the school to go through the threshold.",
            "--by", RAISING.name, tmp_path=tmp_path)
        assert code == 0, err
        await outcome(env, case, "2030-06-07 09:00", "1", RAISING,
                      "Practitioners disagree about the threshold.")
        await outcome(env, case, "2030-06-14 09:00", "2", LINE_MANAGER_A,
                      "Line managers could not agree.")
        await skip_to(env, at("2030-06-14 09:05"))
        page = text_of(await form_via_cli(env, case.id, "leeds_appendix_3", tmp_path))
    steps = page.split("Steps taken to date", 1)[1].split("Current stage", 1)[0]
    assert ("Stage 1 discussion: 05/06/2030 12:15, meeting in person, with Tom Reed, Social "
            "Worker: Met at the school to go through the threshold. (recorded by Priya Shah)"
            ) in steps, steps
    # After the stage's own line, before the next stage's.
    assert steps.index("Stage 1 (") < steps.index("Stage 1 discussion") < steps.index("Stage 2 (")


async def test_a_discussion_in_the_future_or_at_a_stage_not_reached_is_refused(
        skipping_env, settings, mailbox, tmp_path) -> None:
    env = skipping_env
    async with make_worker(env.client, settings):
        case = await raise_case(env, "york", "2030-03-04 09:00")
        await wait_for(lambda: _ready(case, "1"))
        base = ("record-discussion", case.id, "--with", "Tom Reed", "--how", "phone",
                "--said", "x", "--by", RAISING.name)
        code, _, err = await run_cli(env, *base, "--at", "2099-01-01T10:00", tmp_path=tmp_path)
        assert code == 1 and "in the future" in err and "once it has taken place" in err, err
        code, _, err = await run_cli(env, *base, "--stage", "3", tmp_path=tmp_path)
        assert code == 1 and "Stage 3 has not been reached on this case" in err, err
        # Without the operator token (`--by` names whose), nobody is recorded: refused.
        code, _, err = await run_cli(env, *base[:-2], tmp_path=tmp_path)
        assert code == 1 and "operator token" in err, err
        assert (await _state(case))["discussions"] == []
        assert not [e for e in await _timeline(case) if e.kind == "discussion_recorded"]


# -- mark-step-done ------------------------------------------------------------------------
async def test_york_same_day_line_manager_discussion_marked_done_sends_no_passed_mail(
        skipping_env, settings, mailbox, tmp_path) -> None:
    """York s5 Stage 2 para 1: "each of the professionals should discuss the matter with their
    respective line managers within the same working day". Done and recorded, nobody is told
    it has passed; the case that did not record it gets the e-mail."""
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        done = await raise_case(env, "york", "2030-03-05 09:00", reference="2030-0201")
        left = await raise_case(env, "york", "2030-03-05 09:00", reference="2030-0202")
        for case in (done, left):
            await outcome(env, case, "2030-03-05 11:00", "1", RAISING, "No agreement.")
        await skip_to(env, at("2030-03-05 14:00"))
        await wait_for(lambda: _ready(done, "2"))
        await wait_for(lambda: _ready(left, "2"))
        code, out, err = await run_cli(
            env, "step-done", done.id, "--deadline", "2/discuss_with_line_managers",
            "--done-by", "Priya Shah", "--done-by", "Tom Reed",
            "--note", "Both spoke to their line managers at lunchtime.",
            "--by", RAISING.name, tmp_path=tmp_path)
        assert code == 0, err
        assert "Recorded as done: Each practitioner discusses the matter" in out, out
        await skip_to(env, at("2030-03-06 10:00"))
        async def told() -> list:
            return _passed_mail(box, left.id)

        await wait_for(told)
        marked, unmarked = await _state(done), await _state(left)
        timeline = await _timeline(done)
        await keep_history(done, "york-step-done")
    step = next(d for d in marked["deadlines"] if d["key"] == "2/discuss_with_line_managers")
    assert step["status"] == "met" and step["nudges"] == 0
    assert next(d for d in unmarked["deadlines"]
                if d["key"] == "2/discuss_with_line_managers")["status"] == "expired"
    assert not _passed_mail(box, done.id)
    assert not [e for e in timeline if e.kind == "deadline_passed"]
    [event] = [e for e in timeline if e.kind == "step_done"]
    assert event.details["done_by"] == "Priya Shah, Tom Reed" and event.stage == "2"
    assert "lunchtime" in event.summary
    # The stage did not move, and its own deadline still stands.
    assert marked["stage"] == "2"
    assert next(d for d in marked["deadlines"] if d["key"] == "2/resolve")["status"] == "pending"


def _passed_mail(box, case_id: str) -> list:
    return [m for m in box.for_event("deadline_passed") if m["X-Resolutions-Case"] == case_id]


async def test_marking_a_step_done_refuses_escalating_unknown_and_closed_keys(
        skipping_env, settings, mailbox, tmp_path) -> None:
    env = skipping_env
    async with make_worker(env.client, settings):
        case = await raise_case(env, "york", "2030-03-05 09:00")
        await outcome(env, case, "2030-03-05 11:00", "1", RAISING, "No agreement.")
        await skip_to(env, at("2030-03-05 12:00"))
        await wait_for(lambda: _ready(case, "2"))

        async def refused(key: str) -> str:
            code, _, err = await run_cli(env, "mark-step-done", case.id, "--deadline", key,
                                         "--by", RAISING.name, tmp_path=tmp_path)
            assert code == 1, err
            return err

        valid = "Steps that can be marked done: 2/discuss_with_line_managers"
        # An escalating deadline is met by an outcome, not by marking it.
        err = await refused("2/resolve")
        assert "escalates the case when it passes" in err and "recording the stage's outcome" \
            in err and valid in err, err
        err = await refused("2/nothing_like_it")
        assert "There is no deadline '2/nothing_like_it' on this case" in err and valid in err
        # Stage 1's deadline was cancelled when the case moved on.
        err = await refused("1/conversation")
        assert "is no longer open (it is cancelled)" in err and valid in err, err
        # The bare rule id of the current stage names the same deadline.
        code, _, err = await run_cli(env, "step-done", case.id, "--deadline",
                                     "discuss_with_line_managers", "--by", RAISING.name,
                                     tmp_path=tmp_path)
        assert code == 0, err
        err = await refused("2/discuss_with_line_managers")
        assert "is no longer open (it is met)" in err
        assert "No step can be marked done on this case now." in err
        assert len([e for e in await _timeline(case) if e.kind == "step_done"]) == 1


# -- Swindon's referral, met by sending Appendix 1 -------------------------------------------
async def test_swindon_stage_5_referral_is_met_when_appendix_1_is_sent(
        skipping_env, settings, mailbox) -> None:
    """Swindon s4 Stage 5 (When): a referral "within five working days of the completion of
    Stage 4 above using the form at Appendix 1"; the system sends that form itself."""
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "swindon", "2030-03-04 09:00", holders=SWINDON_HOLDERS,
                                arose=at("2030-03-04 09:00"))
        await outcome(env, case, "2030-03-05 15:00", "1", LINE_MANAGER_A, "No agreement.")
        # A discussion sent as a signal (as `record-discussion --signal` does).
        await send(env, case, "2030-03-07 10:00", "record_discussion", with_name=RECEIVING.name,
                   method="email", said="Sent the chronology.", by=actor(RAISING))
        for when, stage, by in (("2030-03-11 11:00", "2", RAISING),
                                ("2030-03-15 16:00", "3", LINE_MANAGER_A),
                                ("2030-03-22 12:00", "4", HEAD_A)):
            await outcome(env, case, when, stage, by, f"Stage {stage}: no agreement.")
        await skip_to(env, at("2030-03-22 12:05"))

        async def referral_met() -> dict[str, Any] | None:
            state = await _state(case)
            d = next((d for d in state["deadlines"] if d["key"] == "5/referral"), None)
            return d if d and d["status"] == "met" else None

        referral = await wait_for(referral_met)
        # Five working days later nothing reminds anyone of a referral already made.
        await skip_to(env, at("2030-04-02 09:00"))
        state = await _state(case)
        timeline = await _timeline(case)
        await keep_history(case, "swindon-discussion-and-referral-sent")
    assert [d["method"] for d in state["discussions"]] == ["email"]
    entered = next(m for m in box.for_event("stage_entered") if "stage 5" in m["Subject"])
    assert "swindon-appendix-1-2030-0042.html" in attachments(entered)
    assert "safeguardingpartnership@swindon.gov.uk" in entered["X-Envelope-To"].lower()
    assert referral["due"].startswith("2030-03-29")
    assert state["stage"] == "5" and state["status"] == "open"
    [done] = [e for e in timeline if e.kind == "step_done" and e.stage == "5"]
    assert "Appendix 1 Resolution Form was sent" in done.summary
    assert not [e for e in timeline if e.kind in ("reminder", "deadline_passed", "nudge")
                and e.details.get("deadline") == "5/referral"]
    since = box.messages[box.messages.index(entered):]
    assert not [m["Subject"] for m in since
                if m["X-Resolutions-Event"] in ("reminder", "deadline_passed", "nudge")]
