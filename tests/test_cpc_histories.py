"""CPC first steps on the time-skipping server with the real worker, sending what the CLI's
`--signal` sends; their histories are saved (RESOLUTIONS_RECORD_HISTORIES=1) so that later
changes must replay a case at a category's first steps (tests/test_replay.py).

Leeds Appendix 1 a) para 2: "The resolution process (Appendix 2) would then be initiated";
Barnsley 3.9: "where agreement cannot be reached, a conference should be convened.
Professional reasons for the final decision should be fully recorded".
"""

from __future__ import annotations

from tests.conftest import RAE, ROB, at, case_input, keep_history, make_worker, skip_to, start_case
from workflows.disagreement import DisagreementWorkflow


async def test_leeds_first_steps_then_step_1(skipping_env, settings, mailbox) -> None:
    env = skipping_env
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input("leeds", category="conference_request"))
        await handle.signal("mark_step_done_signal", {"deadline": "safeguarding_lead",
                                                      "by": RAE})
        await handle.signal("record_outcome_signal", {
            "stage": "cpc", "resolved": False, "by": ROB,
            "summary": "Differences remain over the need for a conference"})
        await skip_to(env, at("2030-03-04 10:00"))
        state = await handle.query(DisagreementWorkflow.state)
        timeline = await handle.query(DisagreementWorkflow.timeline)
        await keep_history(handle, "leeds-cpc-first-steps")
    assert state.stages_visited == ["cpc", "1"] and state.status == "open"
    done = {d.rule: d.status for d in state.deadlines if d.stage == "cpc"}
    assert done["safeguarding_lead"] == "met"
    assert [e.kind for e in timeline].count("warning") == 1


async def test_barnsley_refused_without_reasons_then_convened(skipping_env, settings,
                                                              mailbox) -> None:
    env = skipping_env
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client,
                                  case_input("barnsley", category="conference_request"))
        not_agreed = {"stage": "cpc", "resolved": False, "by": ROB,
                      "summary": "No agreement after discussion"}
        await handle.signal("record_outcome_signal", not_agreed)
        await handle.signal("record_outcome_signal", {
            **not_agreed, "reasons": "Second referral within a month"})
        result = await handle.result()
        await keep_history(handle, "barnsley-cpc-convene")
    kinds = [e.kind for e in result.timeline]
    [refused] = [e for e in result.timeline if e.kind == "rejected"]
    assert "Record the professional reasons for the final decision" in refused.summary
    assert "conference_to_be_convened" in kinds
    assert result.state.status == "closed" and len(result.state.outcomes) == 1
