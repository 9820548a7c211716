"""A disagreement can be resolved at any stage: for every stage of every protocol, reach it by
recording "not resolved" below it, resolve it, and check the duties that follow."""

from __future__ import annotations

from protocols.loader import load_protocol
from tests.conftest import RAE, at, case_input, make_worker, skip_to, start_case
from workflows.disagreement import DisagreementWorkflow

BY = RAE  # the raising practitioner: every stage role nobody is named for is theirs
# York s5 Stage 2 para 1: stage 2 is the line managers' own, recorded only by one named for it.
LEE = {"name": "Lee Manager", "role": "Line manager", "email": "lee@school.example"}
NAMED = {"york": {"2.raising": LEE}}


def _by(protocol: str, stage: str) -> dict[str, str]:
    return LEE if (protocol, stage) == ("york", "2") else BY


async def _resolve_at(handle, protocol: str, stages: list[str], target: str) -> None:
    for stage in stages[: stages.index(target)]:
        await handle.signal("record_outcome_signal", {
            "stage": stage, "resolved": False, "by": _by(protocol, stage),
            "summary": f"Not at {stage}"})
        if load_protocol(protocol).referral_on_not_resolved(stage):
            # Dudley 3b: the Independent Chair is a decision "not resolved" offers (s4 Stage 3b).
            await handle.signal("refer_signal", {"reason": "Exceptional", "by": BY,
                                                 "decided_by": [BY["name"]]})
    await handle.signal("record_outcome_signal", {
        "stage": target, "resolved": True, "by": _by(protocol, target),
        "summary": f"Resolved at {target}",
        "learning_points": ["Share plans earlier"]})


async def test_every_stage_of_every_protocol_can_resolve(skipping_env, settings,
                                                         mailbox) -> None:
    env = skipping_env
    await skip_to(env, at("2030-03-04 09:00"))
    handles = {}
    async with make_worker(env.client, settings):
        for protocol in ("york", "dudley", "swindon", "leeds", "barnsley"):
            stages = [s.id for s in load_protocol(protocol).stages]
            for n, stage in enumerate(stages):
                handle = await start_case(env.client, case_input(
                    protocol, f"2030-{n:02d}00", holders=NAMED.get(protocol, {})))
                await _resolve_at(handle, protocol, stages, stage)
                handles[(protocol, stage)] = handle
        await skip_to(env, at("2030-03-04 09:10"))
        states = {key: await h.query(DisagreementWorkflow.state) for key, h in handles.items()}
        timelines = {key: await h.query(DisagreementWorkflow.timeline)
                     for key, h in handles.items()}
    for (protocol, stage), state in states.items():
        p = load_protocol(protocol)
        assert state.stage == stage, (protocol, stage, state.stage)
        assert state.outcomes[-1].resolved and state.outcomes[-1].stage == stage
        awaited = {d.rule for d in state.deadlines if d.kind == "duty" and d.live}
        expected = {d.id for d in [*p.stage(stage).on_resolution, *p.post_resolution]
                    if d.kind in ("written_confirmation", "learning_dissemination")}
        assert awaited == expected, (protocol, stage, awaited)
        assert state.status == ("resolved" if expected else "closed"), (protocol, stage)
        kinds = {e.kind for e in timelines[(protocol, stage)]}
        learning = [d for d in [*p.stage(stage).on_resolution, *p.post_resolution]
                    if d.kind == "learning_referral"]
        if learning:
            assert "learning_referral" in kinds, (protocol, stage)
    # York: confirmation within two working days at stages 2 and 3 (resolved Mon 4 Mar 09:00).
    for stage in ("2", "3"):
        duty = next(d for d in states[("york", stage)].deadlines if d.kind == "duty")
        assert duty.due == at("2030-03-06 17:00")
    # Swindon: learning disseminated within one month of the stage 5 resolution.
    learning = next(d for d in states[("swindon", "5")].deadlines if d.kind == "duty")
    assert learning.due == at("2030-04-04 17:00")
