"""Random and hostile input, thrown at every message model, the raising checks, the CLI and a
running case: each gets a clear rejection, and a running case stays exactly as it was."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from protocols.actions import ACTIONS, BY_ID, MANAGER_ACTIONS, signal_name
from protocols.messages import Actor
from starter.cases import InvalidInput, build_case_input, parse_action
from starter.cli import main
from tests.conftest import (
    TASK_QUEUE,
    case_input,
    make_worker,
    register_search_attributes,
    start_case,
    test_converter,
    venv_binary,
    wait_for,
)
from workflows.disagreement import DisagreementWorkflow

SIGNAL_NAMES = {a.id: signal_name(a.id) for a in MANAGER_ACTIONS}

HOSTILE_TEXT = st.one_of(
    st.text(max_size=50),
    st.sampled_from([
        "<script>alert(1)</script>", "'; DROP TABLE cases; --", "\x00\x07\x1b[31m",
        "x" * 6000, "\u202e\u0000", "{{ 7*7 }}", "../../etc/passwd", "", " ", "\n\n",
        "2026-13-45T99:99", "NaN", "-1", "1e309",
    ]),
)
SCALARS = st.one_of(HOSTILE_TEXT, st.integers(), st.floats(allow_nan=True), st.booleans(),
                    st.none())
JSONISH = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(HOSTILE_TEXT, kids, max_size=4)), max_leaves=12)


def _payload(name: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = list(BY_ID[name].model.model_fields)
    return st.dictionaries(st.sampled_from([*fields, "extra", "by"]), JSONISH, max_size=6)


@given(name=st.sampled_from(sorted(BY_ID)), data=st.data())
@settings(max_examples=300, deadline=None)
def test_every_message_model_rejects_clearly(name: str, data) -> None:
    payload = data.draw(_payload(name))
    try:
        parse_action(name, payload)
    except InvalidInput as exc:
        assert str(exc) and exc.fields  # names the field(s) at fault
        for problem in exc.fields.values():
            assert "Traceback" not in problem


@given(details=st.dictionaries(
    st.sampled_from(["reference", "raising", "receiving", "issue", "risk_to_child", "nature",
                     "aim", "category", "variants", "child", "arose", "holders", "nonsense"]),
    JSONISH, max_size=8),
    protocol=st.sampled_from(["york", "dudley", "swindon", "leeds", "barnsley"]),
    urgency=st.sampled_from(["standard", "urgent", "immediate-risk"]))
@settings(max_examples=300, deadline=None)
def test_raising_rejects_clearly(details, protocol, urgency) -> None:
    try:
        build_case_input(protocol, details, urgency, Actor(name="A"))
    except InvalidInput as exc:
        assert str(exc) and exc.fields


def test_unknown_protocol_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'narnia'; choose one of"):
        build_case_input("narnia", {}, "standard", Actor(name="A"))


COMMANDS = ["plan", "raise", "outcome", "bypass", "pause", "resume", "agree-timescale",
            "assign", "confirm", "risk", "withdraw", "status", "timeline", "list", "form",
            "protocols", "hold"]


@given(command=st.sampled_from(COMMANDS),
       args=st.lists(st.one_of(HOSTILE_TEXT, st.sampled_from([
           "--stage", "--protocol", "--reference", "--by", "--summary", "--to-stage",
           "--working-days", "--until", "--arose", "--json", "--resolved", "--kind", "york",
           "york-2026-0001", "--file", "/nonexistent.toml", "--reason", "-1"])), max_size=8))
@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_cli_rejects_with_one_clear_line(command, args, capsys, monkeypatch, tmp_path) -> None:
    # Nothing listens here, so a command that gets past its own checks fails to connect,
    # which must also be one clear line.
    monkeypatch.setenv("RESOLUTIONS_TEMPORAL_ADDRESS", "127.0.0.1:9")
    monkeypatch.setenv("RESOLUTIONS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RESOLUTIONS_CODEC_KEYS",
                       '{"k": "dGVzdC1rZXktZm9yLXRoZS1zdWl0ZS0zMi1ieXRlcyE="}')
    try:
        code = main([command, *args])
    except SystemExit as exit_:  # argparse: usage and one error line, exit 2
        code = exit_.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code not in (0, None):
        lines = [line for line in err.split("\n") if line.strip()]  # \r may be in argv
        assert lines, "a failure must say why"
        assert lines[-1].startswith(("error:", "resolutions")), lines[-1]


def _signal_payloads() -> st.SearchStrategy[list[tuple[str, Any]]]:
    return st.lists(st.tuples(st.sampled_from(sorted(SIGNAL_NAMES)), JSONISH),
                    min_size=25, max_size=25)


@given(payloads=_signal_payloads())
@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_hostile_signals_leave_a_running_case_as_it_was(payloads, settings_factory) -> None:
    asyncio.run(_hostile_signals(payloads, settings_factory()))


async def _hostile_signals(payloads, settings) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=test_converter(),
        test_server_existing_path=venv_binary("temporal-test-server"))
    async with env:
        await register_search_attributes(env.client)
        async with make_worker(env.client, settings):
            handle = await start_case(env.client, case_input("york"))

            async def opened() -> bool:
                timeline = await handle.query(DisagreementWorkflow.timeline)
                return any(e.kind == "stage_entered" for e in timeline)

            await wait_for(opened)
            await wait_for(lambda: _mailed(handle))  # the raise e-mail's receipt is in
            before = await handle.query(DisagreementWorkflow.state)
            before_tl = await handle.query(DisagreementWorkflow.timeline)
            for name, raw in payloads:
                await handle.signal(SIGNAL_NAMES[name], raw)

            async def all_refused():
                events = await handle.query(DisagreementWorkflow.timeline)
                return events if sum(e.kind == "rejected" for e in events) >= len(payloads) \
                    else None

            timeline = await wait_for(all_refused)
            after = await handle.query(DisagreementWorkflow.state)
            running = await _running(env.client, handle.id)
    assert running
    # The case is exactly as it was: every field of its state, and its timeline but for one
    # refusal per message (each naming the message it refused), in the order they came.
    assert after.model_dump() == before.model_dump()
    assert timeline[:len(before_tl)] == before_tl
    added = [e for e in timeline[len(before_tl):] if e.via != "activity"]
    assert [e.kind for e in added] == ["rejected"] * len(payloads)
    assert all(e.via == "signal" for e in added)
    assert [e.summary.split(" refused")[0] for e in added] == [name for name, _ in payloads]


async def _running(client, workflow_id: str) -> bool:
    """Whether the workflow still runs, read raw: the SDK's describe() cannot decode an unset
    datetime search attribute as the test server returns it."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import WorkflowExecutionStatus
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

    raw = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace,
                                         execution=WorkflowExecution(workflow_id=workflow_id)))
    status = raw.workflow_execution_info.status
    return status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


async def _mailed(handle) -> bool:
    events = await handle.query(DisagreementWorkflow.timeline)
    return any(e.kind == "notification_sent" for e in events)


UPDATE_NAMES = [name for action in ACTIONS for name in action.names]  # old names too
HOSTILE_UPDATES = [None, 7, "x", [], {}, {"nonsense": True}, {"by": "<script>"},
                   {"stage": "1", "resolved": "maybe", "by": {"name": "A"}},
                   {"to_stage": "\x00", "reason": "x" * 6000, "by": {"name": "A"}},
                   {"stage": "1", "timescale": {"kind": "hours", "amount": -1},
                    "by": {"name": "A"}},
                   {"role": "../../etc", "person": {"name": ""}, "by": {"name": "A"}}]


async def test_hostile_updates_leave_a_running_case_as_it_was(dev_env, settings,
                                                              mailbox) -> None:
    """A client sending garbage straight to the update handlers (not through our CLI or web
    forms) is refused each time, and the case's state and timeline do not change at all."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    client = dev_env.client
    async with make_worker(client, settings):
        handle = await start_case(client, case_input("york", "2030-0666"))
        await wait_for(lambda: _mailed(handle))
        before = await handle.query(DisagreementWorkflow.state)
        before_tl = await handle.query(DisagreementWorkflow.timeline)
        for name in UPDATE_NAMES:
            for raw in HOSTILE_UPDATES:
                with pytest.raises((WorkflowUpdateFailedError, RPCError)):
                    await handle.execute_update(name, raw)
        after = await handle.query(DisagreementWorkflow.state)
        timeline = await handle.query(DisagreementWorkflow.timeline)
        assert await _running(client, handle.id)
    assert after.model_dump() == before.model_dump()
    assert [e for e in timeline if e.via != "activity"] == \
        [e for e in before_tl if e.via != "activity"]


@pytest.fixture
def settings_factory(tmp_path, mailbox):
    from infra.settings import Settings

    def make() -> Settings:
        return Settings(data_dir=tmp_path, smtp_port=mailbox[1], task_queue=TASK_QUEUE)

    return make
