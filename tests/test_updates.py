"""Updates, validators and queries on the real dev server (the time-skipping server can hang on
updates, sdk-java#1903). Every rejection must leave the case exactly as it was."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from protocols.messages import ActionResult, CaseState
from starter.cases import InvalidInput, act, parse_action
from starter.errors import explain
from tests.conftest import RAE, case_input, keep_history, make_worker, start_case, wait_for
from workflows.disagreement import DisagreementWorkflow

BY = RAE  # the raising practitioner: every stage role nobody is named for is theirs


async def _ready(handle) -> CaseState:
    async def entered():
        state = await handle.query(DisagreementWorkflow.state)
        return state if state.stages_visited else None

    return await wait_for(entered)


async def _refused(client, wid: str, name: str, data: dict, expect: str) -> None:
    before = await client.get_workflow_handle(wid).query(DisagreementWorkflow.timeline)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await act(client, wid, name, parse_action(name, {"by": BY, **data}))
    assert expect in explain(err.value), explain(err.value)
    after = await client.get_workflow_handle(wid).query(DisagreementWorkflow.timeline)
    # E-mail receipts land in the background; nothing else may have been written.
    def own(events):
        return [e.seq for e in events if e.via != "activity"]

    assert own(after) == own(before), "a rejected update wrote history"


async def test_validators_reject_with_clear_messages(dev_env: WorkflowEnvironment, settings,
                                                     mailbox) -> None:
    client = dev_env.client
    async with make_worker(client, settings):
        york = await start_case(client, case_input("york", "2026-9001"))
        dudley = await start_case(client, case_input("dudley", "2026-9002"))
        leeds = await start_case(client, case_input("leeds", "2026-9003"))
        barnsley = await start_case(client, case_input("barnsley", "2026-9004"))
        for h in (york, dudley, leeds, barnsley):
            await _ready(h)
        await _refused(client, york.id, "record_outcome",
                       {"stage": "2", "resolved": True, "summary": "x"},
                       "Stage 2 is not the current stage")
        await _refused(client, york.id, "record_outcome",
                       {"stage": "9", "resolved": True, "summary": "x"}, "no stage '9'")
        await _refused(client, york.id, "bypass", {"to_stage": "3", "reason": "faster"},
                       "only when the matter is urgent")
        await _refused(client, dudley.id, "bypass", {"to_stage": "3a", "reason": "x",
                                                      "urgent": True},
                       "does not allow stages to be bypassed")
        # Barnsley's bypass gathers each agreement itself: someone not involved is refused.
        await _refused(client, barnsley.id, "bypass", {"to_stage": "3", "reason": "x",
                                                        "by": {"name": "Mo Manager"}},
                       "Only the two practitioners or the stage 1 role holders (Rae Raiser, "
                       "Rob Receiver) may move the case past this stage (Barnsley 3.3)")
        await _refused(client, york.id, "agree_timescale",
                       {"stage": "1", "timescale": {"kind": "working_days", "amount": 2}},
                       "no timescale to agree")
        await _refused(client, leeds.id, "agree_timescale",
                       {"stage": "1", "timescale": {"kind": "working_days", "amount": 11}},
                       "at most 10 working days")
        await _refused(client, leeds.id, "resume", {}, "not paused")
        await _refused(client, leeds.id, "confirm_in_writing", {}, "No written confirmation")
        await _refused(client, leeds.id, "assign",
                       {"role": "9.raising", "person": {"name": "X"}}, "is not a role")

        # Accepted: results say what changed; an extension needs a reason and who agreed.
        ok = await act(client, leeds.id, "agree_timescale", parse_action(
            "agree_timescale", {"stage": "1", "timescale": {"kind": "working_days",
                                                            "amount": 5}, "by": BY}))
        assert isinstance(ok, ActionResult) and "now due" in ok.message
        await _refused(client, leeds.id, "agree_timescale",
                       {"stage": "1", "timescale": {"kind": "working_days", "amount": 8}},
                       "extension: say why")
        ext = await act(client, leeds.id, "agree_timescale", parse_action(
            "agree_timescale", {"stage": "1", "timescale": {"kind": "working_days",
                                                            "amount": 8},
                                "reason": "Meeting moved", "agreed_by": ["A", "B"], "by": BY}))
        assert ext is not None
        kinds = [e.kind for e in await leeds.query(DisagreementWorkflow.timeline)]
        assert "timescale_agreed" in kinds and "timescale_extended" in kinds

        paused = await act(client, leeds.id, "pause", parse_action(
            "pause", {"reason": "Sickness", "by": BY}))
        assert paused is not None and paused.brief.status == "paused"
        await _refused(client, leeds.id, "record_outcome",
                       {"stage": "1", "resolved": True, "summary": "x"}, "paused")

        done = await act(client, barnsley.id, "withdraw", parse_action(
            "withdraw", {"reason": "Raised in error", "by": BY}))
        assert done is not None and done.brief.status == "withdrawn"
        await barnsley.result()
        for name, data in [("record_outcome", {"stage": "1", "resolved": True, "summary": "x"}),
                           ("pause", {"reason": "x"})]:
            with pytest.raises(Exception) as err:
                await act(client, barnsley.id, name, parse_action(name, {**data, "by": BY}))
            assert "closed" in explain(err.value)
        await keep_history(leeds, "leeds-updates-agree-extend-pause")
        await keep_history(barnsley, "barnsley-update-withdraw")
        await keep_history(york, "york-update-rejections")


def test_hostile_message_fields_refused_before_sending() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_action("record_outcome", {"stage": "1", "resolved": True, "summary": "a\x00b",
                                        "by": BY})
    assert "control characters" in str(err.value)
    with pytest.raises(InvalidInput) as err:
        parse_action("pause", {"reason": "x" * 6000, "by": BY})
    assert "reason" in err.value.fields
    with pytest.raises(InvalidInput) as err:
        parse_action("withdraw", {"reason": "x", "by": BY, "extra": 1})
    assert "not a field we know" in str(err.value)


async def test_outcome_records_how_the_two_sides_spoke(dev_env: WorkflowEnvironment, settings,
                                                       mailbox) -> None:
    client = dev_env.client
    async with make_worker(client, settings):
        case = await start_case(client, case_input("swindon", "2026-9005"))
        await _ready(case)
        with pytest.raises(InvalidInput) as err:
            parse_action("record_outcome", {"stage": "1", "resolved": False, "summary": "x",
                                            "contact_method": "pigeon", "by": BY})
        assert "contact_method" in err.value.fields
        # The same nonsense as a signal is refused in the timeline; the stage stays open.
        await case.signal("record_outcome_signal", {"stage": "1", "resolved": False,
                                                    "summary": "x", "contact_method": "pigeon",
                                                    "by": BY})

        async def refused():
            return [e for e in await case.query(DisagreementWorkflow.timeline)
                    if e.kind == "rejected"]

        assert "contact_method" in (await wait_for(refused))[0].summary
        state = await case.query(DisagreementWorkflow.state)
        assert state.stage == "1" and state.outcomes == []

        done = await act(client, case.id, "record_outcome", parse_action(
            "record_outcome", {"stage": "1", "resolved": False, "summary": "Spoke by phone.",
                               "contact_method": "phone", "by": BY}))
        assert done is not None
        outcomes = (await case.query(DisagreementWorkflow.state)).outcomes
        assert [o.contact_method for o in outcomes] == ["phone"]
        recorded = [e for e in await case.query(DisagreementWorkflow.timeline)
                    if e.kind == "outcome_recorded"]
        assert recorded[0].details["contact_method"] == "phone"


async def test_agreed_hours_past_the_maximum_are_refused(dev_env: WorkflowEnvironment, settings,
                                                         mailbox) -> None:
    """York stage 2: 'within a further 5 working days ... (whichever is less)'. Hours count
    from when they are agreed; an hour past the stage's fifth working day is refused (after
    the calendar activity has answered), and the case keeps its deadline."""
    client = dev_env.client
    async with make_worker(client, settings):
        york = await start_case(client, case_input("york", "2026-9006"))
        await _ready(york)
        moved = await act(client, york.id, "record_outcome", parse_action("record_outcome", {
            "stage": "1", "resolved": False, "summary": "No agreement", "by": BY}))
        assert moved is not None and moved.brief.stage == "2"
        deadlines = (await york.query(DisagreementWorkflow.state)).deadlines
        resolve = next(d for d in deadlines if d.key == "2/resolve")
        assert resolve.latest_allowed is not None
        now = await dev_env.get_current_time()
        too_many = int((resolve.latest_allowed - now).total_seconds() // 3600) + 2
        await _refused(client, york.id, "agree_timescale",
                       {"stage": "2", "timescale": {"kind": "hours", "amount": too_many}},
                       "after the protocol's maximum")
        state = await york.query(DisagreementWorkflow.state)
        after = next(d for d in state.deadlines if d.key == "2/resolve")
        assert (after.due, after.agreed) == (resolve.due, None)
