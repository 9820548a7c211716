"""Resume and "not resolved" are answered without waiting on the server's activity queue: the
calendar's answers are local activities, recorded in history as markers the audit reads."""

from __future__ import annotations

from starter.audit.rebuild import rebuild
from starter.cases import act, parse_action
from tests.conftest import (
    RAE,
    at,
    case_input,
    make_worker,
    skip_to,
    start_case,
    test_converter,
    wait_for,
)
from workflows.disagreement import DisagreementWorkflow

CALENDAR = {"compute_deadlines", "shift_after_pause"}


async def test_resume_and_not_resolved_use_recorded_local_calendar_answers(
        skipping_env, settings, mailbox) -> None:
    env = skipping_env
    await skip_to(env, at("2030-03-04 09:00"))
    by = RAE
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input("leeds", "2030-0201"))

        async def entered():
            state = await handle.query(DisagreementWorkflow.state)
            return state if any(d.live and d.due for d in state.deadlines) else None

        before = await wait_for(entered)
        await act(env.client, handle.id, "pause", parse_action("pause", {
            "reason": "Practitioner off sick", "by": by}))
        await skip_to(env, at("2030-03-06 10:00"))
        resumed = await act(env.client, handle.id, "resume", parse_action("resume", {"by": by}))
        moved = await act(env.client, handle.id, "record_outcome", parse_action(
            "record_outcome", {"stage": "1", "resolved": False, "summary": "No agreement",
                               "by": by}))
        history = await handle.fetch_history()
    first = next(d for d in before.deadlines if d.live and d.due)
    after = next(d for d in resumed.state.deadlines if d.key == first.key)
    assert after.due > first.due  # the pause's working time was added back
    assert moved.state.stage != "1"
    scheduled = {e.activity_task_scheduled_event_attributes.activity_type.name
                 for e in history.events if e.HasField("activity_task_scheduled_event_attributes")}
    assert not scheduled & CALENDAR, scheduled
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events
               if e.HasField("marker_recorded_event_attributes")]
    assert "core_local_activity" in markers
    case = await rebuild(history, test_converter())
    calendar = [f.name for f in case.facts if f.kind == "activity" and f.name in CALENDAR]
    assert set(calendar) == CALENDAR, calendar
    assert all(c.ok for c in case.checks), [c for c in case.checks if not c.ok]
