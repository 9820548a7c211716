"""The sandbox the workflow runs in, the same for the worker and every replayer (audit, report).

Each run (and each replayed history) gets a fresh copy of our own modules, so the sandbox can
check the workflow's determinism; third-party libraries that are pure and only read are passed
through instead of being imported again for every case: the address check's (email_validator,
idna) and what importing the calendar module loads (holidays, dateutil, six) — the workflow
itself never looks a holiday up.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSTHROUGH = ("email_validator", "idna", "holidays", "dateutil", "six")


def sandbox_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def replay_runner() -> SandboxedWorkflowRunner:
    """For replayers only (audit, report): our workflow modules are passed through too, so a
    replay does not import and decorate them again for every history (about a third of a
    replay's time). What the sandbox's restrictions guard — no clocks, I/O or randomness — was
    already enforced when the worker ran the case; a replay that takes another path is still
    caught, by comparing its commands with the history's."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *PASSTHROUGH, "workflows"))
