"""Random and hostile input, thrown at every message model, the raising checks, the CLI and a
running case: each gets a clear rejection, and a running case stays exactly as it was."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from protocols.messages import Actor
from starter.cases import ACTIONS, InvalidInput, build_case_input, parse_action
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
from workflows.disagreement import SIGNAL_NAMES, DisagreementWorkflow

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
    fields = list(ACTIONS[name].model_fields)
    return st.dictionaries(st.sampled_from([*fields, "extra", "by"]), JSONISH, max_size=6)


@given(name=st.sampled_from(sorted(ACTIONS)), data=st.data())
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
            before = await handle.query(DisagreementWorkflow.state)
            for name, raw in payloads:
                await handle.signal(SIGNAL_NAMES[name], raw)
            after = await handle.query(DisagreementWorkflow.state)
            timeline = await handle.query(DisagreementWorkflow.timeline)
            history = await handle.fetch_history()
    # still running: no close event (describe() is not used here: the SDK's describe cannot
    # read the time-skipping server's null for an unset Datetime search attribute)
    assert not any(e.HasField("workflow_execution_completed_event_attributes")
                   or e.HasField("workflow_execution_failed_event_attributes")
                   or e.HasField("workflow_execution_terminated_event_attributes")
                   for e in history.events)
    assert after.stage == before.stage and after.status == before.status
    assert [d.key for d in after.deadlines] == [d.key for d in before.deadlines]
    refused = [e for e in timeline if e.kind == "rejected"]
    assert len(refused) == len(payloads)  # every one recorded as refused, none applied


@pytest.fixture
def settings_factory(tmp_path, mailbox):
    from infra.settings import Settings

    def make() -> Settings:
        return Settings(data_dir=tmp_path, smtp_port=mailbox[1], task_queue=TASK_QUEUE)

    return make
