"""The sandbox the worker's cases run in, and the runner of the replayers (audit, report).

Our workflow modules and the pure, read-only libraries they use are passed through the sandbox:
imported once per process and shared by every case, not imported, compiled and decorated again
for each case the worker holds or replays. Re-importing them per case cost about 300 KB of a
cached case's memory (the workflow module's code objects alone ~220 KB) and a third of a
replay's time. Passed through: the address check's libraries (email_validator, idna), what
importing the calendar module loads (holidays, dateutil, six — the workflow itself never looks
a holiday up), and ``workflows`` (whose ``workflows.shared`` lets cases share one parsed copy
of each frozen protocol).

What the full sandbox guards — no clocks, I/O or randomness in workflow code — is still
checked, three ways: ``workflows/ruff.toml`` bans clocks, randomness, file and network modules
and holiday look-ups in this package as the code is written (``ruff check``, in ``./dev test``);
``tests/test_replay.py`` replays every saved history with the SDK's default, strict sandbox,
which imports our workflow modules afresh under its restrictions; and a replay or run that takes
another path than its history is caught by comparing commands, sandbox or not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowInterceptorClassInput,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSTHROUGH = ("email_validator", "idna", "holidays", "dateutil", "six", "workflows")


def sandbox_runner() -> WorkflowRunner:
    """The worker's runner (see the module's docstring, and ``LetGoOfStart`` below)."""
    return _LetGoRunner(SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)))


def replay_runner() -> WorkflowRunner:
    """For replayers (audit, report): no sandbox. A replay's question is whether today's code
    gives the commands the history recorded, which the SDK answers by comparing them; the
    sandbox, with our modules passed through, adds nothing to that but its cost per
    activation (about a fifth of a replay's time)."""
    return UnsandboxedWorkflowRunner()


# -- letting go of the start activation ------------------------------------------------------
# The SDK keeps a few fields of the activation that started a case (its headers, memo, last
# completion result) as protobuf sub-messages, and a sub-message keeps the whole message's
# memory alive: the case's input as it came from the server, encrypted, and again decrypted,
# ~90 KB for each case held in the cache (measured: the floor workflow with a 20 KB input held
# 215 KB a case, 125 KB without). Copies of those few small fields let it go.


def _own(message: Any) -> Any:
    """A copy of a protobuf message that shares no memory with the message it came from."""
    return type(message).FromString(message.SerializeToString())


class _LetGoRunner(WorkflowRunner):
    """Another runner, given start details that hold no part of the start activation."""

    def __init__(self, inner: WorkflowRunner) -> None:
        self._inner = inner

    def prepare_workflow(self, defn: Any) -> None:
        self._inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        info = dataclasses.replace(
            det.info, headers={k: _own(v) for k, v in det.info.headers.items()},
            raw_memo={k: _own(v) for k, v in det.info.raw_memo.items()})
        return self._inner.create_instance(dataclasses.replace(
            det, info=info, last_completion_result=_own(det.last_completion_result),
            last_failure=_own(det.last_failure) if det.last_failure is not None else None))

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]
                                                 ) -> None:
        self._inner.set_worker_level_failure_exception_types(types)


class LetGoOfStart(Interceptor):
    """The worker's interceptor: the run's input headers, copied (see above)."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _LetGoInbound


class _LetGoInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        input.headers = {k: _own(v) for k, v in input.headers.items()}
        return await super().execute_workflow(input)
