"""`resolutions plan` agrees with the workflow (issue 15, item 6).

Each protocol's "full time" path runs on the time-skipping server with the real worker and
calendar: nobody resolves anything, a stage with a fixed time runs to it and its timer moves
the case on, and a stage with none ("as soon as possible", agreed per case, none) is left at
once by a person recording "not resolved" (as `plan` takes it to end when it starts; Dudley
3b's referral decision is taken to refer). Every stage's start and every deadline's instant is
compared with `resolutions plan --json` run as a person runs it: from when the concern arose,
and again from each stage a person moved the case to (a person acts a moment after a timer,
which may fall after the cut-off, so the plan is asked from that instant).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from protocols.loader import load_protocol
from starter import cases
from tests.conftest import RAE, at, case_input, make_worker, skip_to, start_case, wait_for
from tests.mail_cases import run_cli
from workflows.disagreement import DisagreementWorkflow

AROSE = "2030-03-04 09:00"


async def _walk(env, handle, protocol) -> list[tuple[str, datetime, list, bool]]:
    """(stage, entered, deadline dues in the protocol's order, entered by a person)."""
    seen: list[tuple[str, datetime, list, bool]] = []
    by_person = True
    for _ in range(len(protocol.stages) + 1):
        state = await wait_for(lambda: _settled(handle, protocol))
        stage = protocol.stage(state.stage)
        dues = {d.key: d.due for d in state.deadlines}
        seen.append((stage.id, state.stage_entered_at,
                     [dues[f"{stage.id}/{r.id}"] for r in stage.deadlines], by_person))
        if stage.id == protocol.stages[-1].id:
            return seen
        rule = stage.escalation_deadline
        due = dues.get(f"{stage.id}/{rule.id}") if rule else None
        if due is not None:
            await skip_to(env, due + timedelta(seconds=1))
            by_person = False
        else:
            await handle.execute_update("record_outcome", cases.parse_action("record_outcome", {
                "stage": stage.id, "resolved": False, "summary": "Still apart", "by": RAE}))
            if (await handle.query(DisagreementWorkflow.state)).open_referral:
                await handle.execute_update("refer", cases.parse_action("refer", {
                    "reason": "Full-time path", "decided_by": [RAE["name"]], "by": RAE}))
            by_person = True
    raise AssertionError(f"{protocol.id}: the path did not reach the last stage: {seen}")


async def _settled(handle, protocol):
    """The state once the current stage's deadlines are worked out (its calendar table may
    still be on its way from the worker when the stage is entered)."""
    state = await handle.query(DisagreementWorkflow.state)
    keys = {d.key for d in state.deadlines}
    stage = protocol.stage(state.stage)
    return state if all(f"{stage.id}/{r.id}" in keys for r in stage.deadlines) else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@pytest.mark.parametrize("name", ["york", "dudley", "swindon", "leeds", "barnsley"])
async def test_full_time_path_matches_plan(name: str, skipping_env, settings, mailbox,
                                           tmp_path: Path) -> None:
    env = skipping_env
    protocol = load_protocol(name)
    await skip_to(env, at(AROSE))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input(name, arose=at(AROSE)))
        await skip_to(env, at(AROSE) + timedelta(seconds=1))
        seen = await _walk(env, handle, protocol)
        state = await handle.query(DisagreementWorkflow.state)
    assert [s for s, *_ in seen] == [s.id for s in protocol.stages][:len(seen)]
    compared = 0
    planned: dict[str, dict] = {}
    for stage_id, entered, _, by_person in seen:
        if not by_person:
            continue
        start = at(AROSE) if stage_id == seen[0][0] else entered
        code, out, err = await run_cli(
            env, "plan", "--protocol", name, "--arose", start.isoformat(), "--start-stage",
            stage_id, "--json", tmp_path=tmp_path)
        assert code == 0, err
        timetable = json.loads(out)
        planned.update({s["stage"]: s for s in timetable["stages"]})
        if stage_id == seen[0][0]:
            for row in timetable["overall"]:
                overall = next(d for d in state.deadlines if d.kind == "overall")
                assert row["due"] == _iso(overall.due), name
                compared += 1
    for stage_id, entered, dues, _ in seen:
        stage = planned[stage_id]
        if stage_id != seen[0][0]:
            assert stage["starts"] == _iso(entered), (name, stage_id)
        rows = [r["due"] for r in stage["deadlines"]
                if not r["what"].startswith("If resolved at this stage")]
        assert rows == [_iso(d) for d in dues], (name, stage_id)
        compared += 1 + len(rows)
    assert compared > len(seen)
