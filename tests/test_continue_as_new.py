"""A run continues as new carrying its record (issue 14), on a real dev server and worker.

Its histories, the first run's (ending in continue-as-new) and the next run's (starting from
the carried record, its e-mails sent by query), are saved for the replay test with
RESOLUTIONS_RECORD_HISTORIES=1, so later changes must replay both.
"""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from protocols.messages import CaseLimits
from starter.cases import act, get_state, get_timeline, parse_action
from tests.conftest import RAE, case_input, keep_history, make_worker, start_case, wait_for
from workflows.disagreement import DisagreementWorkflow


async def test_a_run_continues_as_new_with_its_whole_record(dev_env, settings, mailbox) -> None:
    client = dev_env.client
    box, _ = mailbox
    inp = case_input("leeds", "2030-1420").model_copy(update={
        "limits": CaseLimits(per_minute=1000, continue_after_events=200)})
    actions, later = 24, 3  # the run continues once its history passes 200 events
    async with make_worker(client, settings):
        case = await start_case(client, inp)
        first_run = case.result_run_id or ""

        async def entered():
            return any(e.kind == "stage_entered" for e in
                       await case.query(DisagreementWorkflow.timeline))

        await wait_for(entered)

        async def step(n: int) -> None:
            name, data = [("pause", {"reason": f"Sickness {n}"}),
                          ("resume", {"note": f"Back {n}"}),
                          ("record_discussion", {"with_name": "Rob Receiver", "method": "phone",
                                                 "said": f"Call {n}"})][n % 3]
            await act(client, case.id, name, parse_action(name, {**data, "by": RAE}))

        for n in range(actions):
            await step(n)

        async def continued():
            return (await client.get_workflow_handle(case.id).describe()).run_id != first_run

        await wait_for(continued)
        for n in range(actions, actions + later):  # the next run takes messages as the first
            await step(n)

        async def settled():  # nothing in flight, and every e-mail sent has its receipt
            pending = (await client.get_workflow_handle(case.id).describe()) \
                .raw_description.pending_activities
            timeline = await get_timeline(client, case.id)
            receipts = {e.details.get("event_key") for e in timeline
                        if e.kind == "notification_sent"}
            mailed = {m["X-Resolutions-Event-Key"] for m in box.messages}
            return timeline if not pending and mailed <= receipts else None

        timeline = await wait_for(settled, timeout=60, interval=0.5)
        state = await get_state(client, case.id)
        latest = await client.get_workflow_handle(case.id).describe()
        first = await client.get_workflow_handle(case.id, run_id=first_run).describe()
        await keep_history(client.get_workflow_handle(case.id, run_id=first_run),
                           "leeds-continued-first-run")
        await keep_history(client.get_workflow_handle(case.id), "leeds-continued-next-run")

    assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert latest.run_id != first_run and latest.status == WorkflowExecutionStatus.RUNNING
    # The whole record went on: every discussion, every event once and in order.
    total = actions + later
    assert [d.said for d in state.discussions] == [f"Call {n}" for n in range(2, total, 3)]
    assert [e.seq for e in timeline] == list(range(1, len(timeline) + 1))
    assert [e.kind for e in timeline].count("paused") == total // 3
    assert state.status == "open" and state.stage == "1"
    # The e-mail counter went on too: no two e-mails of the case share a Message-ID.
    ids = [m["Message-ID"] for m in box.messages]
    assert len(ids) == len(set(ids))
