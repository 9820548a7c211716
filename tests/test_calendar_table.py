"""Issue 18: a case works its deadlines out from its recorded calendar table, with the calendar
activity's own arithmetic, and asks the activity only for days outside the table.

Two Leeds cases are raised at the same moment on the time-skipping server, each on a real
worker (``build_worker``) with the same calendar — England's bank holidays and two local
closures — one with the default 18-month table, one with a table of 2 months. Both are walked
through the same signals (an agreed timescale, a pause across Christmas and a resume). The
first asks the calendar activity for nothing but its table; the second's one-month overall
limit falls past its table, so it asks ``compute_deadlines`` for it (and ``shift_after_pause``
to move it on after the pause). Every deadline of the two cases is the same, and each equals
what the worker's calendar activity answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import time

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.worker import Replayer

from activities.deadlines import DeadlineActivities
from infra.settings import Settings
from protocols.calendar import WorkingCalendar
from protocols.loader import load_protocol
from protocols.messages import CaseState, DeadlineAnswer, DeadlineQuery, PauseShift, ShiftRequest
from starter.cases import raise_case
from tests.conftest import (
    HISTORY_DIR,
    RAE,
    ROOT,
    at,
    case_input,
    keep_history,
    skip_to,
    start_case,
    test_converter,
    wait_for,
)
from worker import build_worker
from workflows.disagreement import DisagreementWorkflow

# Christmas Eve closed from noon, New Year's Eve closed all day (the worker's settings);
# 25, 26 December and 1 January are bank holidays.
CLOSURES = ["2030-12-24T12:00", "2030-12-31"]
CALENDAR = WorkingCalendar.from_settings(time(17, 0), CLOSURES)
LEEDS = load_protocol("leeds")


async def _activities(handle: WorkflowHandle) -> list[str]:
    history = await handle.fetch_history()
    return [e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


async def _state(handle: WorkflowHandle, stage: str = "1") -> CaseState:
    async def entered():
        state = await handle.query(DisagreementWorkflow.state)
        return state if stage in state.stages_visited else None

    return await wait_for(entered)


def _activity_answer(state: CaseState, key: str) -> DeadlineAnswer:
    """What the worker's ``compute_deadlines`` answers for Leeds stage 1's own timescale."""
    d = next(d for d in state.deadlines if d.key == key)
    rule = next(r for r in LEEDS.stage("1").deadlines if r.id == "resolve")
    [a] = DeadlineActivities(CALENDAR).compute_deadlines([DeadlineQuery(
        key=key, clock_start=d.clock_start, timescale=rule.timescale.model_dump(),
        with_reminder=rule.remind_before)])
    return a


def _dates(state: CaseState) -> list[tuple]:
    """Each deadline's instants (the two cases' clocks differ by the moment between them)."""
    return [(d.key, d.status, d.due, d.remind_at, d.latest_allowed, d.next_nudge)
            for d in state.deadlines]


async def test_table_deadlines_equal_the_activitys_and_fall_back_past_the_table(
        skipping_env, settings, mailbox) -> None:
    env = skipping_env
    await skip_to(env, at("2030-12-19 10:00"))  # a Thursday before Christmas
    long, short = (settings.model_copy(update={"task_queue": q, "calendar_table_months": m})
                   for q, m in (("resolutions-test", 18), ("resolutions-short", 2)))
    workers = [build_worker(env.client, s, calendar=CALENDAR) for s in (long, short)]
    async with workers[0], workers[1]:
        table = await start_case(env.client, case_input("leeds", "2030-0181"))
        handle = await raise_case(env.client, Settings(task_queue="resolutions-short"),
                                  case_input("leeds", "2030-0182"))
        cases = (table, handle)
        first = [await _state(h) for h in cases]
        # Leeds stage 1: 10 working days by default, from Thu 19 Dec 10:00: 20, 23, 24
        # (closing at noon), 27, 30 December, 2, 3, 6, 7, 8 January.
        for state in first:
            resolve = next(d for d in state.deadlines if d.key == "1/resolve")
            asked = _activity_answer(state, "1/resolve")
            assert resolve.due == asked.due == at("2031-01-08 17:00")
            assert (resolve.remind_at, resolve.latest_allowed) == (asked.remind_at,
                                                                   asked.latest_allowed)
        assert _dates(first[0]) == _dates(first[1])

        for h in cases:
            await h.signal("agree_timescale_signal", {
                "stage": "1", "timescale": {"kind": "working_days", "amount": 3}, "by": RAE})
            await h.signal("pause_signal", {"reason": "Practitioner off sick", "by": RAE})
        await skip_to(env, at("2030-12-27 11:00"))
        for h in cases:
            await h.signal("resume_signal", {"by": RAE})

        async def resumed(h: WorkflowHandle):
            state = await h.query(DisagreementWorkflow.state)
            return state if state.status == "open" and any(
                e.kind == "resumed" for e in await h.query(DisagreementWorkflow.timeline)) \
                else None

        after = [await wait_for(lambda h=h: resumed(h)) for h in cases]
        assert _dates(after[0]) == _dates(after[1])
        agreed = next(d for d in after[0].deadlines if d.key == "1/resolve")
        # Agreed: 3 working days from 19 Dec, to 24 Dec at noon (closed from 12:00). The pause
        # from the 19th to the 27th took four working days (19, 20, 23, 24 Dec), which move the
        # deadline on past 25, 26 (bank holidays), 31 Dec (closed) and 1 Jan to 3 Jan. The
        # worker's calendar activity says the same.
        events = await table.query(DisagreementWorkflow.timeline)
        [paused, resumed_at] = [next(e.at for e in events if e.kind == k)
                                for k in ("paused", "resumed")]
        [asked] = DeadlineActivities(CALENDAR).shift_after_pause(ShiftRequest(
            paused_at=paused, resumed_at=resumed_at,
            items=[PauseShift(key="d", moment=at("2030-12-24 12:00"))]))
        assert agreed.due == asked.due == at("2031-01-03 17:00")

        kinds = [await _activities(h) for h in cases]
        calendar_asks = [[k for k in ks if not k.startswith("send_")] for ks in kinds]
        assert calendar_asks[0] == ["calendar_table"]
        # The overall month from 19 Dec runs to 20 Jan 2031, past a table of 2 months from
        # 18 Nov (to 18 Jan): the case asks the activities for it (and for the resume, which
        # moves it on further), and for nothing else.
        assert calendar_asks[1] == ["calendar_table", "compute_deadlines", "shift_after_pause"]
        overall = [next(d for d in s.deadlines if d.key == "overall") for s in first]
        assert overall[0].due == overall[1].due == at("2031-01-20 17:00")

        # Both histories replay, and the table's history is kept for the replay test.
        replayer = Replayer(workflows=[DisagreementWorkflow], data_converter=test_converter())
        for h in cases:
            await replayer.replay_workflow(await h.fetch_history())
        await keep_history(table, "leeds-calendar-table")


REPLAY_AND_LOOK = """
import asyncio, json, sys
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from tests.conftest import HISTORY_DIR, test_converter
from workflows.disagreement import DisagreementWorkflow
path = HISTORY_DIR / "leeds-calendar-table.json"
history = WorkflowHistory.from_json("table", json.loads(path.read_text()))
replayer = Replayer(workflows=[DisagreementWorkflow], data_converter=test_converter())
asyncio.run(replayer.replay_workflow(history))
print("holidays imported:", "holidays" in sys.modules)
"""


def test_the_workflow_never_imports_holidays() -> None:
    """Replaying a case that worked its deadlines out from its table, in a fresh interpreter
    with the workflow and its messages loaded, never loads the ``holidays`` library."""
    done = subprocess.run([sys.executable, "-c", REPLAY_AND_LOOK], cwd=ROOT, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "holidays imported: False" in done.stdout


async def test_a_case_raised_before_the_table_replays_asking_the_activities() -> None:
    """A history saved before the table (a Leeds pause and resume) asked the activities for
    every deadline and for the pause's shift; today's code replays it asking them again."""
    path = HISTORY_DIR / "leeds-pause-resume.json"
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    names = [e.activity_task_scheduled_event_attributes.activity_type.name
             for e in history.events
             if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert {"compute_deadlines", "shift_after_pause"} <= set(names)
    assert "calendar_table" not in names
    replayer = Replayer(workflows=[DisagreementWorkflow], data_converter=test_converter())
    await replayer.replay_workflow(history)
