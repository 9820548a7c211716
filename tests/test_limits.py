"""Limits as the documents set them, and nothing that drifts in silence (issue 15).

Each case runs on the time-skipping server with the real worker, the real England calendar
and a real SMTP server; people act through the `resolutions` command where they would. Every
instant is worked out by hand from the document and a 2030 calendar (GMT until Sun 31 Mar
2030; Good Friday 19 Apr, Easter Monday 22 Apr).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from tests.conftest import at, close_to, make_worker, skip_to
from tests.mail_cases import (
    HEAD_A,
    HEAD_B,
    LINE_MANAGER_A,
    LINE_MANAGER_B,
    RAISING,
    actor,
    addresses,
    outcome,
    part,
    raise_case,
    run_cli,
    send,
)
from workflows import search_attributes as sa
from workflows.disagreement import DisagreementWorkflow

LSCP = "lscp.info@leeds.gov.uk"
LEEDS_HOLDERS = {"2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B,
                 "3a.raising": HEAD_A, "3a.receiving": HEAD_B}


def deadline(state, key: str):
    return next(d for d in state.deadlines if d.key == key)


def moves(timeline) -> list[str]:
    return [e.stage or "" for e in timeline if e.kind in ("stage_entered", "escalated")]


# -- Leeds: one month "where possible" -----------------------------------------------------------
async def test_leeds_month_passing_is_a_breach_told_to_the_lscp_and_the_case_carries_on(
        skipping_env, settings, mailbox, tmp_path: Path) -> None:
    """Leeds s3 Step 2 para 2: "Where possible this should not exceed 10 working days between
    stages and one month for the overall process to be completed." The concern arose on Sat 2
    Mar, which belongs to Mon 4 Mar: the month ends Thu 4 Apr 17:00, while the case is at Step
    3a (stage 1 to Mon 18 Mar, stage 2 to Mon 1 Apr, 3a to Mon 15 Apr). Passing it is recorded
    and the parties and the LSCP told; the case goes on to 3b, not to Stage 4, which is for a
    disagreement that "cannot be resolved within the 3 step process" (Stage 4 para 1). `plan`
    gives the same instant."""
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "leeds", "2030-03-04 09:00", arose=at("2030-03-02 10:00"),
                                holders=LEEDS_HOLDERS)
        await skip_to(env, at("2030-03-04 09:01"))
        early = await case.query(DisagreementWorkflow.state)
        await skip_to(env, at("2030-04-05 09:00"))
        breached = await case.query(DisagreementWorkflow.state)
        await skip_to(env, at("2030-04-16 09:00"))
        later = await case.query(DisagreementWorkflow.state)
        timeline = await case.query(DisagreementWorkflow.timeline)
    code, out, err = await run_cli(env, "plan", "--protocol", "leeds", "--arose",
                                   "2030-03-02T10:00", "--json", tmp_path=tmp_path)
    assert code == 0, err
    [planned] = json.loads(out)["overall"]
    overall = deadline(early, "overall")
    assert overall.due == at("2030-04-04 17:00")
    assert planned["due"] == overall.due.isoformat()
    assert planned["on_expiry"] == overall.on_expiry
    # Recorded, not moved: at 3a when the month passed, on to 3b by 3a's own timescale.
    assert breached.stage == "3a" and deadline(breached, "overall").status == "breached"
    assert any("Overall limit passed" in f and "recorded as a breach" in f
               for f in breached.flags), breached.flags
    [event] = [e for e in timeline if e.kind == "limit_breached"]
    assert close_to(event.at, at("2030-04-04 17:00")) and event.stage == "3a"
    assert moves(timeline) == ["1", "2", "3a", "3b"]
    assert later.stage == "3b" and "4" not in later.stages_visited
    told = [m for m in box.messages if m["X-Resolutions-Event"] == "deadline_passed"]
    assert len(told) == 1
    assert LSCP in addresses(told[0], "Cc")
    assert {HEAD_A.email, HEAD_B.email, RAISING.email} <= set(addresses(told[0], "To"))
    assert "Where possible" not in told[0]["Subject"]  # subjects stay short and plain
    assert "The overall process is completed" in part(told[0], "text/plain")


# -- Leeds: 10 working days "where possible", "ideally"; York stage 2 hard ------------------------
async def test_leeds_timescale_over_ten_working_days_needs_who_and_why_and_is_flagged(
        skipping_env, settings, mailbox, tmp_path: Path) -> None:
    """Leeds s4 bullet 1: "(ideally within 10 working days)" and "Any changes or requests for
    extensions to timescales should be agreed and recorded": 15 working days from Mon 4 Mar
    (Mon 25 Mar 17:00) is refused without who agreed it and why, accepted with them, and
    flagged on `status`. York s5 Stage 2 para 1's "5 working days ... (whichever is less)" stays
    a hard maximum, whoever agrees."""
    env = skipping_env
    async with make_worker(env.client, settings):
        leeds = await raise_case(env, "leeds", "2030-03-04 09:00", reference="2030-0043")
        york = await raise_case(env, "york", "2030-03-04 09:00", reference="2030-0044",
                                holders={"2.raising": LINE_MANAGER_A,
                                         "2.receiving": LINE_MANAGER_B})
        await outcome(env, york, "2030-03-04 10:00", "1", RAISING, "Not agreed.",
                      contact_method="phone")
        await skip_to(env, at("2030-03-04 11:00"))
        agree = ("agree-timescale", leeds.id, "--stage", "1", "--working-days", "15",
                 "--by", RAISING.name)
        refused = await run_cli(env, *agree, tmp_path=tmp_path)
        half = await run_cli(env, *agree, "--reason", "Strategy meeting on 22 March",
                             tmp_path=tmp_path)
        accepted = await run_cli(env, *agree, "--reason", "Strategy meeting on 22 March",
                                 "--agreed-by", RAISING.name, "--agreed-by", "Tom Reed",
                                 tmp_path=tmp_path)
        status = await run_cli(env, "status", leeds.id, tmp_path=tmp_path)
        york_refused = await run_cli(env, "agree-timescale", york.id, "--stage", "2",
                                     "--working-days", "6", "--reason", "Holiday",
                                     "--agreed-by", LINE_MANAGER_A.name,
                                     "--by", LINE_MANAGER_A.name, tmp_path=tmp_path)
        state = await leeds.query(DisagreementWorkflow.state)
    for code, _, err in (refused, half):
        assert code == 1
        assert "at most 10 working days where possible" in err
        assert "must be agreed and recorded (Leeds s4 bullet 1): say who agreed it and why" in err
    assert accepted[0] == 0, accepted[2]
    resolve = deadline(state, "1/resolve")
    assert resolve.due == at("2030-03-25 17:00")
    assert resolve.beyond_max == ("agreed by Priya Shah, Tom Reed; reason: Strategy meeting on "
                                  "22 March (Leeds s4 bullet 1)")
    assert "needs attention:" in status[1]
    assert ("Timescale longer than the document asks for where possible, for 'Practitioners "
            "resolve") in status[1]
    assert "agreed by Priya Shah, Tom Reed; reason: Strategy meeting on 22 March" in status[1]
    assert york_refused[0] == 1
    assert "allows at most 5 working days" in york_refused[2]


# -- pause only where a protocol provides it -----------------------------------------------------
async def test_pause_is_refused_where_the_document_has_no_halting(
        skipping_env, settings, mailbox, tmp_path: Path) -> None:
    """Only Leeds provides for a halted process (s3 Stage 4 para 2). York refuses with its
    3.3: "Timescales should not be a reason for delaying action."; Dudley, Swindon and
    Barnsley say nothing, and the refusal says so. Nothing is recorded."""
    env = skipping_env
    async with make_worker(env.client, settings):
        cases = {p: await raise_case(env, p, "2030-03-04 09:00", reference=f"2030-01{i}")
                 for i, p in enumerate(("york", "dudley", "swindon", "barnsley"))}
        await skip_to(env, at("2030-03-04 10:00"))
        answers = {p: await run_cli(env, "pause", h.id, "--reason", "Off sick", "--by",
                                    RAISING.name, tmp_path=tmp_path) for p, h in cases.items()}
        states = {p: await h.query(DisagreementWorkflow.state) for p, h in cases.items()}
    york = answers["york"]
    assert york[0] == 1
    assert ("does not provide for halting a case, so its timescales keep running (York 3.3: "
            "Timescales should not be a reason for delaying action.)") in york[2]
    for p in ("dudley", "swindon", "barnsley"):
        code, _, err = answers[p]
        assert code == 1
        assert (f"({p.capitalize()}: not set by the document: it makes no provision for "
                "halting the process, so the project refuses a pause)") in err
    assert all(s.status == "open" for s in states.values())


async def test_leeds_pause_reminds_to_resume_and_offers_a_hand_over(
        skipping_env, settings, mailbox, tmp_path: Path) -> None:
    """Leeds s3 Stage 4 para 2: "ensure that the process is resumed as soon as possible",
    "in cases of sickness a different person needs to take over the process", "does not
    drift". Paused Mon 4 Mar 10:00: reminders to resume every 2 working days (Wed 6th, Fri
    8th, Tue 12th 17:00), then weekly, the project's default (Tue 19th, Tue 26th)."""
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "leeds", "2030-03-04 09:00")
        await skip_to(env, at("2030-03-04 10:00"))
        paused = await run_cli(env, "pause", case.id, "--reason", "Practitioner off sick",
                               "--by", RAISING.name, tmp_path=tmp_path)
        await skip_to(env, at("2030-03-27 09:00"))
        state = await case.query(DisagreementWorkflow.state)
        timeline = await case.query(DisagreementWorkflow.timeline)
    assert paused[0] == 0, paused[2]
    nudges = [e for e in timeline if e.kind == "nudge"]
    expected = ["2030-03-06 17:00", "2030-03-08 17:00", "2030-03-12 17:00",
                "2030-03-19 17:00", "2030-03-26 17:00"]
    assert len(nudges) == len(expected)
    for event, when in zip(nudges, expected, strict=True):
        assert close_to(event.at, at(when)), (event.at, when)
        assert "resume the case as soon as possible" in event.summary
        assert event.details["source"] == "Leeds s3 Stage 4 para 2"
    mails = [m for m in box.messages if m["X-Resolutions-Event"] == "nudge"]
    assert len(mails) == 5
    assert "hand the role to someone else" in part(mails[0], "text/plain")
    assert addresses(mails[0], "To") == [RAISING.email]
    assert state.status == "paused"
    assert any(f.startswith("Paused since") for f in state.flags)


# -- nothing drifts in silence -------------------------------------------------------------------
async def test_written_confirmation_never_lapses_and_shows_as_drifting(
        skipping_env, settings, mailbox) -> None:
    """Leeds s4 bullet 3: "written confirmation between the parties about agreed resolutions"
    (no timescale in the document). Resolved at stage 1 on Mon 4 Mar 10:00: nudged Wed 6th,
    Fri 8th and Tue 12th, then weekly (Tue 19th, Tue 26th: not set by the document, the
    project's default); the case stays open, awaiting the confirmation, shown as drifting and
    overdue in the list (its search attribute), until someone records it."""
    env = skipping_env
    async with make_worker(env.client, settings):
        case = await raise_case(env, "leeds", "2030-03-04 09:00")
        await outcome(env, case, "2030-03-04 10:00", "1", RAISING, "Agreed a joint visit.",
                      resolved=True)
        await skip_to(env, at("2030-03-27 09:00"))
        waiting = await case.query(DisagreementWorkflow.state)
        # What `resolutions list` reads (the case's search attributes), undecoded: the SDK's
        # describe() cannot decode an unset datetime attribute from the test server.
        described = await env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace=env.client.namespace,
                                             execution=WorkflowExecution(workflow_id=case.id)))
        timeline = await case.query(DisagreementWorkflow.timeline)
        await send(env, case, "2030-03-27 10:00", "confirm_in_writing", by=actor(RAISING),
                   summary="Letter sent to both agencies")
        await skip_to(env, at("2030-03-27 10:01"))
        done = await case.query(DisagreementWorkflow.state)
    nudges = [e.at for e in timeline if e.kind == "nudge"]
    expected = ["2030-03-06 17:00", "2030-03-08 17:00", "2030-03-12 17:00",
                "2030-03-19 17:00", "2030-03-26 17:00"]
    assert len(nudges) == len(expected)
    assert all(close_to(a, at(b)) for a, b in zip(nudges, expected, strict=True))
    assert waiting.status == "resolved"
    duty = deadline(waiting, "duty/1/written_confirmation")
    assert duty.status == "pending" and duty.nudges == 5
    assert any(f.startswith("Drifting: awaiting written confirmation") for f in waiting.flags)
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    assert json.loads(fields[sa.CASE_OVERDUE.name].data) is True
    assert done.status == "closed" and done.flags == []


# -- referrals the documents reserve: decisions, with who and why ---------------------------------
DUDLEY_HOLDERS = {"2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B,
                  "3a.raising": HEAD_A, "3a.receiving": HEAD_B,
                  "3b.raising": HEAD_A, "3b.receiving": HEAD_B}


async def test_dudley_3b_not_resolved_offers_the_independent_chair_as_a_decision(
        skipping_env, settings, mailbox, tmp_path: Path) -> None:
    """Dudley s4 Stage 3b: "Whilst it is a firm DSCB expectation that professional
    disagreements must be resolved within the 3 stage process", "in exceptional
    circumstances, where the matter remains unresolved, there is provision for it to be
    considered by the DSCB Independent Chair". "Not resolved" at 3b keeps the case at 3b with
    the decision awaited; `refer` records who decided and why, or, not referring, closes it."""
    env = skipping_env
    async with make_worker(env.client, settings):
        cases = {}
        for ref in ("2030-0201", "2030-0202"):
            case = await raise_case(env, "dudley", "2030-03-04 09:00", reference=ref,
                                    holders=DUDLEY_HOLDERS)
            for hour, stage, who in (("10", "1", RAISING), ("11", "2", LINE_MANAGER_A),
                                     ("12", "3a", HEAD_A), ("13", "3b", HEAD_A)):
                await outcome(env, case, f"2030-03-04 {hour}:{ref[-1]}0", stage, who,
                              "Still apart.")
            cases[ref] = case
        await skip_to(env, at("2030-03-04 14:00"))
        offered = await cases["2030-0201"].query(DisagreementWorkflow.state)
        refer = ("refer", cases["2030-0201"].id, "--reason", "Exceptional: both Directors agree",
                 "--by", HEAD_A.name)
        nobody = await run_cli(env, *refer, tmp_path=tmp_path)
        referred = await run_cli(env, *refer, "--decided-by", HEAD_A.name, "--decided-by",
                                 "Mark Bright", tmp_path=tmp_path)
        declined = await run_cli(env, "refer", cases["2030-0202"].id, "--not-refer", "--reason",
                                 "Not exceptional: agencies to follow up", "--decided-by",
                                 HEAD_A.name, "--by", HEAD_A.name, tmp_path=tmp_path)
        await skip_to(env, at("2030-03-04 14:05"))
        chair = await cases["2030-0201"].query(DisagreementWorkflow.state)
        timeline = await cases["2030-0201"].query(DisagreementWorkflow.timeline)
        closed = await cases["2030-0202"].query(DisagreementWorkflow.state)
    assert offered.stage == "3b" and offered.open_referral == "independent_chair"
    assert deadline(offered, "3b/referral_independent_chair").status == "pending"
    assert nobody[0] == 1 and "Record who decided" in nobody[2]
    assert referred[0] == 0, referred[2]
    assert chair.stage == "chair" and chair.open_referral == ""
    [event] = [e for e in timeline if e.kind == "referred"]
    assert event.summary == ("Refer to the DSCB Independent Chair (decided by Dr Ruth Ellis, "
                             "Mark Bright): Exceptional: both Directors agree")
    assert event.details["source"] == "Dudley s4 Stage 3b, Exceptional Circumstances"
    assert declined[0] == 0, declined[2]
    assert closed.status == "closed" and "chair" not in closed.stages_visited
    assert "not referred" in closed.closing_summary
    assert "Not exceptional: agencies to follow up (decided by Dr Ruth Ellis)" in \
        closed.closing_summary


async def test_york_stage_3_drifts_and_refers_to_the_chair_only_by_decision(
        skipping_env, settings, mailbox, tmp_path: Path) -> None:
    """York s5 Stage 3 para 1: "as soon as possible" (no number); s5 Stage 4 para 1: "or the
    matter unresolved within the timescale, then the matter should be referred directly to the
    Chair". Urgent, so at stage 3 from Mon 4 Mar: reminded Wed 6th, Fri 8th, Tue 12th, then
    drifting, offering the referral; `refer` moves it to stage 4 with who and why. Policy
    issues are taken from the senior managers' discussion onward: a stage-1 outcome flagging
    them moves the case to stage 2, not to the Chair."""
    env = skipping_env
    async with make_worker(env.client, settings):
        york = await raise_case(env, "york", "2030-03-04 09:00", urgency="urgent",
                                holders={"3.raising": HEAD_A, "3.receiving": HEAD_B})
        early = await raise_case(env, "york", "2030-03-04 09:00", reference="2030-0301")
        await outcome(env, early, "2030-03-04 10:00", "1", RAISING, "Policy gap found.",
                      policy_issue=True, contact_method="phone")
        await skip_to(env, at("2030-03-04 10:05"))
        early_state = await early.query(DisagreementWorkflow.state)
        too_early = await run_cli(env, "refer", early.id, "--reason", "Policy", "--decided-by",
                                  RAISING.name, "--by", RAISING.name, tmp_path=tmp_path)
        await skip_to(env, at("2030-03-13 09:00"))
        drifting = await york.query(DisagreementWorkflow.state)
        referred = await run_cli(env, "refer", york.id, "--referral",
                                 "unresolved_in_timescale", "--reason",
                                 "No agreement after seven working days", "--decided-by",
                                 HEAD_A.name, "--by", HEAD_A.name, tmp_path=tmp_path)
        state = await york.query(DisagreementWorkflow.state)
    [flag] = [f for f in drifting.flags if f.startswith("Drifting")]
    assert "'Senior managers resolve the matter' has no fixed time" in flag
    assert "the document allows: Refer to the Chair of the CYSCP" in flag
    assert deadline(drifting, "3/conversation").nudges == 3
    assert referred[0] == 0, referred[2]
    assert state.stage == "4" and state.stages_visited == ["3", "4"]
    assert early_state.stage == "2"
    assert too_early[0] == 1 and "reserves no referral at stage 2" in too_early[2]


# -- Swindon: the "When" column and Day 17 -------------------------------------------------------
async def test_swindon_recorded_contact_meets_the_when_column_and_day_17_is_shown(
        skipping_env, settings, mailbox, tmp_path: Path) -> None:
    """Swindon s4 Stage 1 (When): "The discussion should take place within two working days of
    the disagreement or concern arising"; Appendix 1: "If you have not found a suitable
    resolution on completion of Stage 4 (Day 17)". Arose Mon 4 Mar 09:00: the internal
    discussion recorded Tue 5th meets stage 1's contact deadline, while the ladder still moves
    the case on Wed 6th 17:00. Stage 3 ends early (Thu 14th 10:00): stage 4's contact and its
    ladder are due Thu 21st 17:00, and Day 17 (Wed 27th 17:00, the end of stage 4 in `plan`)
    is shown beside them."""
    env = skipping_env
    async with make_worker(env.client, settings):
        case = await raise_case(env, "swindon", "2030-03-04 09:00", arose=at("2030-03-04 09:00"),
                                holders={"1.receiving": LINE_MANAGER_A,
                                         "3.raising": LINE_MANAGER_A,
                                         "3.receiving": LINE_MANAGER_B})
        await skip_to(env, at("2030-03-05 10:00"))
        recorded = await run_cli(env, "record-discussion", case.id, "--with", LINE_MANAGER_A.name,
                                 "--how", "meeting", "--said", "Talked it through",
                                 "--by", RAISING.name, tmp_path=tmp_path)
        await skip_to(env, at("2030-03-05 10:05"))
        stage_1 = await case.query(DisagreementWorkflow.state)
        await outcome(env, case, "2030-03-14 10:00", "3", LINE_MANAGER_A, "Still apart.")
        await skip_to(env, at("2030-03-14 10:05"))
        stage_4 = await case.query(DisagreementWorkflow.state)
        status = await run_cli(env, "status", case.id, tmp_path=tmp_path)
        await skip_to(env, at("2030-03-22 09:00"))
        timeline = await case.query(DisagreementWorkflow.timeline)
    code, out, err = await run_cli(env, "plan", "--protocol", "swindon", "--arose",
                                   "2030-03-04T09:00", "--json", tmp_path=tmp_path)
    assert code == 0, err
    planned = {s["stage"]: s for s in json.loads(out)["stages"]}
    assert recorded[0] == 0, recorded[2]
    assert "It meets 'The internal discussion with the line manager" in recorded[1]
    assert deadline(stage_1, "1/contact").status == "met"
    assert deadline(stage_1, "1/discussion").status == "pending"  # the ladder keeps its date
    ladder, contact = deadline(stage_4, "4/contact_opposite_number"), deadline(stage_4, "4/contact")
    assert ladder.due == contact.due == at("2030-03-21 17:00")
    day_17 = deadline(stage_4, "4/day_17")
    assert day_17.due == at("2030-03-27 17:00") == datetime.fromisoformat(planned["4"]["ends"])
    assert "Thu 21 Mar 2030 17:00" in status[1] and "Wed 27 Mar 2030 17:00" in status[1]
    steps = [(e.stage, e.at) for e in timeline if e.kind in ("stage_entered", "escalated")]
    assert [s for s, _ in steps] == ["1", "2", "3", "4", "5"]
    assert close_to(steps[1][1], at("2030-03-06 17:00"))
    assert close_to(steps[4][1], at("2030-03-21 17:00"))
    # The stage 1 contact was met; no "deadline passed" for it, only for the ladder.
    assert not [e for e in timeline if e.kind == "deadline_passed"
                and e.details.get("deadline") == "1/contact"]


# -- learning is never lost -----------------------------------------------------------------------
async def test_learning_recorded_at_an_earlier_stage_is_referred_at_resolution(
        skipping_env, settings, mailbox) -> None:
    """Barnsley 3.10: "any general principles should be identified and referred to the Quality
    Assurance and Performance Management Sub-Group". A learning point recorded with stage 1's
    "not resolved" is carried to the resolution at stage 2 (whose outcome records none) and
    referred, in the referral's e-mail and on the timeline."""
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "barnsley", "2030-03-04 09:00",
                                holders={"2.raising": LINE_MANAGER_A})
        await outcome(env, case, "2030-03-04 10:00", "1", RAISING, "Still apart.",
                      learning_points=["Threshold guidance unclear for neglect"])
        await outcome(env, case, "2030-03-04 11:00", "2", LINE_MANAGER_A, "Agreed a plan.",
                      resolved=True)
        await skip_to(env, at("2030-03-04 11:05"))
        timeline = await case.query(DisagreementWorkflow.timeline)
    [referral] = [e for e in timeline if e.kind == "learning_referral"]
    assert "Quality Assurance and Performance Management Sub-Group" in referral.summary
    [mail] = [m for m in box.messages if m["X-Resolutions-Event"] == "learning_referral"]
    assert "Learning points recorded: Threshold guidance unclear for neglect" in part(
        mail, "text/plain")
