"""Protocol rules the documents state, checked on the running workflow.

Each case runs on the time-skipping server with the real worker, the real England calendar and
a real SMTP server; every expected instant is worked out by hand from the document and a 2030
calendar (GMT until Sun 31 Mar 2030, BST after). Each test pins one rule a plausible slip in
the workflow would break while every other test still passed.
"""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from tests.conftest import RAE, ROB, at, case_input, close_to, make_worker, skip_to, start_case
from workflows.disagreement import DisagreementWorkflow

BY = RAE  # the raising practitioner: every stage role nobody is named for is theirs
SSP = "safeguardingpartnership@swindon.gov.uk"
CYSCP = "cyscp@york.gov.uk"


def not_resolved(stage: str, **more) -> dict:
    return {"stage": stage, "resolved": False, "by": BY, "summary": "Still apart", **more}


def moves(timeline) -> list[tuple[str, object]]:
    return [(e.stage, e.at) for e in timeline if e.kind in ("stage_entered", "escalated")]


def deadline(state, key: str):
    return next(d for d in state.deadlines if d.key == key)


# -- a. Swindon s3 para 7: from stage 2 on, the Partnership is copied in on everything -----------
async def test_swindon_partnership_copied_on_every_communication_from_stage_2(
        skipping_env, settings, mailbox) -> None:
    """'From Stage 2 onwards all communication between agencies is documented ... with the
    Swindon Safeguarding Partnership copied in' (s3 para 7): reminders, outcomes, deadline
    notices and nudges as well as stage moves; nothing of the internal stage 1."""
    env, (box, _) = skipping_env, mailbox
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input("swindon", arose=at("2030-03-04 09:00")))
        await handle.signal("record_outcome_signal", not_resolved("1"))  # → stage 2, Mon 09:00
        # Stage 2 due Mon 11 Mar 17:00, reminded Fri 8th 17:00.
        await skip_to(env, at("2030-03-11 10:00"))
        await handle.signal("record_outcome_signal", not_resolved("2"))  # → stage 3
        # 3 → 4 Mon 18th 17:00, 4 → 5 Mon 25th; the referral is met by the stage-5 e-mail
        # carrying Appendix 1. Not resolved at stage 5 → the Resolution Panel, which has no
        # timescale: nudged two working days later (Thu 28 Mar 17:00).
        await skip_to(env, at("2030-03-26 10:00"))
        await handle.signal("record_outcome_signal", not_resolved("5"))
        await skip_to(env, at("2030-04-04 09:00"))
        timeline = await handle.query(DisagreementWorkflow.timeline)
    stage_of = {e.details["event_key"]: e.stage for e in timeline
                if e.kind == "notification_sent"}
    copied: set[tuple[str, str]] = set()
    for message in box.messages:
        stage = stage_of[message["X-Resolutions-Event-Key"]]
        cc = (message["Cc"] or "").lower()
        if stage == "1":
            assert SSP not in cc, (message["X-Resolutions-Event"], stage)
        else:
            assert SSP in cc, (message["X-Resolutions-Event"], stage)
            assert SSP in (message["X-Envelope-To"] or "").lower()
            copied.add((message["X-Resolutions-Event"], stage))
    assert {("reminder", "2"), ("outcome_recorded", "2"), ("stage_entered", "3"),
            ("reminder", "4"), ("stage_entered", "5"), ("outcome_recorded", "5"),
            ("stage_entered", "panel"), ("nudge", "panel")} <= copied
    # Stage 1's own mail (raised, reminder-free outcome) went out uncopied.
    assert ("outcome_recorded", "1") not in copied
    assert any(stage_of[m["X-Resolutions-Event-Key"]] == "1" for m in box.messages)


# -- b. Leeds: the one month runs from when the concern arose --------------------------------------
async def test_leeds_month_counts_from_when_the_concern_arose(skipping_env, settings,
                                                              mailbox) -> None:
    """'One month for the overall process to be completed' (Leeds s3 Step 2 para 2), counted
    from the concern: arose Mon 25 Feb, raised a week later, so the month ends Mon 25 Mar
    17:00, not 4 Apr (a month from the raise)."""
    env = skipping_env
    arose = at("2030-02-25 11:00")
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input("leeds", arose=arose))
        await skip_to(env, at("2030-03-04 09:01"))
        early = await handle.query(DisagreementWorkflow.state)
        await skip_to(env, at("2030-03-26 09:00"))
        state = await handle.query(DisagreementWorkflow.state)
        timeline = await handle.query(DisagreementWorkflow.timeline)
    overall = deadline(early, "overall")
    assert overall.clock_start == arose
    assert overall.due == at("2030-03-25 17:00")
    # Stage 1 (default 10 working days from the raise) ends Mon 18th; stage 2 runs to Mon 1
    # Apr. The month ends first: "Where possible" (s3 Step 2 para 2), so it is recorded as a
    # breach and the case stays at stage 2 (issue 15).
    assert [m[0] for m in moves(timeline)] == ["1", "2"]
    assert close_to(moves(timeline)[1][1], at("2030-03-18 17:00"))
    [breach] = [e for e in timeline if e.kind == "limit_breached"]
    assert close_to(breach.at, at("2030-03-25 17:00"))
    assert state.stage == "2" and deadline(state, "overall").status == "breached"


# -- c. Swindon stage 1: "within two working days of the disagreement or concern arising" --------
async def test_swindon_stage_1_counts_from_the_concern_not_the_raise(skipping_env, settings,
                                                                     mailbox) -> None:
    """Arose Fri 1 Mar 10:00, raised Mon 4 Mar 09:00: two working days from the concern end
    Tue 5 Mar 17:00 (not Wed 6th, two from the raise); reminded Mon 4th 17:00."""
    env = skipping_env
    arose = at("2030-03-01 10:00")
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input("swindon", arose=arose))
        await skip_to(env, at("2030-03-04 09:01"))
        first = await handle.query(DisagreementWorkflow.state)
        await skip_to(env, at("2030-03-06 09:00"))
        state = await handle.query(DisagreementWorkflow.state)
        timeline = await handle.query(DisagreementWorkflow.timeline)
    discussion = deadline(first, "1/discussion")
    assert discussion.clock_start == arose
    assert discussion.due == at("2030-03-05 17:00")
    assert discussion.remind_at == at("2030-03-04 17:00")
    reminder = next(e for e in timeline if e.kind == "reminder")
    assert close_to(reminder.at, at("2030-03-04 17:00"))
    assert [m[0] for m in moves(timeline)] == ["1", "2"]
    assert close_to(moves(timeline)[1][1], at("2030-03-05 17:00"))
    # Stage 2 counts from stage 1's end: five working days from Tue 5th.
    assert deadline(state, "2/discussion").due == at("2030-03-12 17:00")
    assert deadline(state, "2/discussion").clock_start == at("2030-03-05 17:00")


# -- d. York: significant policy issues go straight to the CYSCP Chair -----------------------------
async def test_york_policy_issue_refers_to_the_chair_from_the_senior_managers_discussion(
        skipping_env, settings, mailbox) -> None:
    """"If the matter remain unresolved following discussions between respective senior
    managers and/or the discussion raises significant policy issues ... referred directly to
    the Chair" (York s5 Stage 4 para 1): policy issues are taken from the senior managers'
    discussion (stage 3) onward (issue 15). Flagged at stage 1 or 2 the case goes one stage up,
    like its unflagged twin; at stage 3 the referral is a decision of its own (``refer``),
    without waiting for an outcome."""
    env, (box, _) = skipping_env, mailbox
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        # Stage 2 is the line managers' (York s5 Stage 2 para 1): one is named to record it.
        lee = {"name": "Lee Manager", "role": "Line manager", "email": "lee@school.example"}
        at_2 = await start_case(env.client, case_input("york", "2030-0031",
                                                       holders={"2.raising": lee}))
        twin = await start_case(env.client, case_input("york", "2030-0032",
                                                       holders={"2.raising": lee}))
        at_3 = await start_case(env.client, case_input("york", "2030-0033", urgency="urgent"))
        for h in (at_2, twin):
            await h.signal("record_outcome_signal", not_resolved("1"))
        await at_2.signal("record_outcome_signal",
                          {**not_resolved("2", policy_issue=True), "by": lee})
        await twin.signal("record_outcome_signal", {**not_resolved("2"), "by": lee})
        await at_3.signal("refer_signal", {"referral": "policy_issues", "by": BY,
                                           "reason": "The threshold policy itself is unclear",
                                           "decided_by": ["Rae Raiser", "Rob Receiver"]})
        await skip_to(env, at("2030-03-04 09:05"))
        states = [await h.query(DisagreementWorkflow.state) for h in (at_2, twin, at_3)]
        flagged_tl = await at_3.query(DisagreementWorkflow.timeline)
    flagged_early, unflagged, referred = states
    assert flagged_early.stages_visited == ["1", "2", "3"]
    assert unflagged.stages_visited == ["1", "2", "3"]
    assert referred.stages_visited == ["3", "4"] and referred.stage == "4"
    move = [e for e in flagged_tl if e.kind == "escalated"][-1]
    assert move.stage == "4"
    assert ("the discussion raises significant policy issues (York s5 Stage 4 para 1); "
            "decided by Rae Raiser, Rob Receiver") in move.summary
    # The Chair's 15 working days start with the referral (Mon 4 Mar → Mon 25 Mar).
    assert deadline(referred, "4/chair_recommendations").due == at("2030-03-25 17:00")
    # The Business Unit is sent the written account for the referred case only.
    to_chair = [m for m in box.messages if CYSCP in (m["Cc"] or "").lower()]
    assert {m["X-Resolutions-Case"] for m in to_chair} == {"york-2030-0033"}
    names = [p.get_filename() for p in to_chair[0].iter_attachments()]
    assert any(n and n.startswith("york-written-account") for n in names)


# -- e. an agreed timescale may not pass the protocol's maximum ------------------------------------
async def test_agreed_timescale_never_passes_the_maximum(skipping_env, settings, mailbox) -> None:
    """Leeds: 'Time scales not exceeding 10 working days should be agreed for each stage'
    (s3 para 2). Stage 1 entered Mon 4 Mar, so nothing agreed may end after Mon 18 Mar 17:00,
    whether asked as working days (counted from when it is agreed), hours or a date, unless
    who agreed it and why are recorded (s4 bullet 1, "agreed and recorded"; tests/
    test_limits.py)."""
    env = skipping_env
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input("leeds"))
        await skip_to(env, at("2030-03-11 09:00"))
        before = await handle.query(DisagreementWorkflow.state)
        for timescale in (
            {"kind": "working_days", "amount": 10},  # from Mon 11th: Mon 25th
            {"kind": "working_days", "amount": 11},
            {"kind": "hours", "amount": 200},  # Tue 19th 17:00
            {"kind": "until", "until": "2030-03-19T12:00:00+00:00"},
        ):
            await handle.signal("agree_timescale_signal", {"stage": "1", "timescale": timescale,
                                                           "by": BY})
        await skip_to(env, at("2030-03-11 09:01"))
        refused = await handle.query(DisagreementWorkflow.state)
        rejected = [e.summary for e in await handle.query(DisagreementWorkflow.timeline)
                    if e.kind == "rejected"]
        # Up to the maximum exactly is allowed.
        await handle.signal("agree_timescale_signal", {
            "stage": "1", "timescale": {"kind": "working_days", "amount": 5}, "by": BY})
        await skip_to(env, at("2030-03-11 09:02"))
        agreed = await handle.query(DisagreementWorkflow.state)
        description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    latest = at("2030-03-18 17:00")
    assert deadline(before, "1/resolve").latest_allowed == latest
    assert deadline(refused, "1/resolve").due == deadline(before, "1/resolve").due == latest
    assert deadline(refused, "1/resolve").agreed is None
    assert len(rejected) == 4, rejected
    for refusal in rejected:
        assert "at most 10 working days where possible" in refusal, refusal
        assert "say who agreed it and why" in refusal
    assert deadline(agreed, "1/resolve").due == latest
    assert deadline(agreed, "1/resolve").agreed is not None


# -- f. a pause stops the clocks ------------------------------------------------------------------
async def test_pause_stops_every_clock_and_moves_it_by_the_time_lost(skipping_env, settings,
                                                                     mailbox) -> None:
    """Leeds' 'halted' process (s3 Stage 4 para 2), the only protocol that has one. One case
    agrees one working day for stage 1 (due Tue 5 Mar 17:00, reminded Mon 4th 17:00); paused
    Mon 4th 10:00 to Mon 11th 10:00 nothing of the case fires (only reminders to resume), and
    five working days (Mon-Fri cut-offs) are lost: due Tue 12th, reminded Mon 11th. The other's
    24 agreed wall-clock hours (due Tue 5th 09:00) move by the 168 hours of the pause."""
    env = skipping_env
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        days = await start_case(env.client, case_input("leeds", arose=at("2030-03-04 09:00")))
        hours = await start_case(env.client, case_input("leeds", "2030-0041"))
        await days.signal("agree_timescale_signal", {
            "stage": "1", "timescale": {"kind": "working_days", "amount": 1}, "by": BY})
        await hours.signal("agree_timescale_signal", {
            "stage": "1", "timescale": {"kind": "hours", "amount": 24}, "by": BY})
        await skip_to(env, at("2030-03-04 10:00"))
        before = {h.id: await h.query(DisagreementWorkflow.state) for h in (days, hours)}
        for h in (days, hours):
            await h.signal("pause_signal", {"reason": "Practitioner off sick", "by": BY})
        # In sickness someone else takes over (Leeds s3 Stage 4 para 2): a message while
        # paused, after both deadlines passed, must not set the stopped clocks going.
        await skip_to(env, at("2030-03-07 12:00"))
        for h in (days, hours):
            await h.signal("assign_signal", {
                "role": "1.receiving", "reason": "Sickness: taking over", "by": ROB,
                "person": {"name": "Tia Takeover", "email": "tia@csc.example"}})
        await skip_to(env, at("2030-03-11 09:59"))
        paused = {h.id: await h.query(DisagreementWorkflow.state) for h in (days, hours)}
        await skip_to(env, at("2030-03-11 10:00"))
        for h in (days, hours):
            await h.signal("resume_signal", {"by": BY})
        await skip_to(env, at("2030-03-11 10:01"))
        resumed = {h.id: await h.query(DisagreementWorkflow.state) for h in (days, hours)}
        await skip_to(env, at("2030-03-14 09:00"))
        later = await days.query(DisagreementWorkflow.state)
        timeline = await days.query(DisagreementWorkflow.timeline)
        hours_tl = await hours.query(DisagreementWorkflow.timeline)
    s, d = days.id, hours.id
    assert deadline(before[s], "1/resolve").due == at("2030-03-05 17:00")
    assert close_to(deadline(before[d], "1/resolve").due, at("2030-03-05 09:00"))
    # Nothing of the case fired while paused, though both deadlines and a reminder passed.
    for wid in (s, d):
        assert paused[wid].status == "paused" and paused[wid].stage == "1"
        assert paused[wid].holders["1.receiving"].name == "Tia Takeover"
        assert ([x.status for x in paused[wid].deadlines]
                == [x.status for x in before[wid].deadlines])
    pause_at, resume_at = at("2030-03-04 10:00"), at("2030-03-11 10:00")
    for events in (timeline, hours_tl):
        fired = [e for e in events if pause_at < e.at < resume_at
                 and e.kind in ("reminder", "deadline_passed", "escalated", "nudge")]
        # Only the reminders to resume, Wed 6th and Fri 8th 17:00 (tests/test_limits.py).
        assert [e.summary.split(":")[0] for e in fired] == ["Reminder 1", "Reminder 2"]
        assert all("resume the case" in e.summary and "deadline" not in e.details
                   for e in fired)
    # Working-day rules move by the five working days lost; hour rules by the 168 hours.
    moved = deadline(resumed[s], "1/resolve")
    assert (moved.due, moved.remind_at) == (at("2030-03-12 17:00"), at("2030-03-11 17:00"))
    pause_ev, resume_ev = (next(e for e in hours_tl if e.kind == kind)
                           for kind in ("paused", "resumed"))
    assert close_to(resume_ev.at - pause_ev.at + at("2030-03-04 00:00"), at("2030-03-11 00:00"))
    assert deadline(resumed[d], "1/resolve").due == (deadline(before[d], "1/resolve").due
                                                     + (resume_ev.at - pause_ev.at))
    # The moved clocks then run: reminder Mon 11th, escalation Tue 12th 17:00, and stage 2
    # counts its ten working days (the default until agreed) from then.
    reminder = next(e for e in timeline if e.kind == "reminder")
    assert close_to(reminder.at, at("2030-03-11 17:00"))
    assert close_to(moves(timeline)[1][1], at("2030-03-12 17:00"))
    assert deadline(later, "2/resolve").due == at("2030-03-26 17:00")
