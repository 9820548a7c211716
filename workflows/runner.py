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
checked: ``tests/test_replay.py`` replays every saved history with the SDK's default, strict
sandbox, which imports our workflow modules afresh under its restrictions; and a replay or run
that takes another path than its history is caught by comparing commands, sandbox or not.
"""

from __future__ import annotations

from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSTHROUGH = ("email_validator", "idna", "holidays", "dateutil", "six", "workflows")


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The worker's runner (see the module's docstring)."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def replay_runner() -> WorkflowRunner:
    """For replayers (audit, report): no sandbox. A replay's question is whether today's code
    gives the commands the history recorded, which the SDK answers by comparing them; the
    sandbox, with our modules passed through, adds nothing to that but its cost per
    activation (about a fifth of a replay's time)."""
    return UnsandboxedWorkflowRunner()
