"""Replaying histories against today's workflow code: is every case still compatible?

A change to ``DisagreementWorkflow`` that would make a running case take a different path
(calling another activity, dropping a timer, reordering steps) shows up here as a
non-determinism error, with the history event where replay and code parted ways. Such changes
go behind ``workflow.patched("…")`` (see the README, "Keeping running cases safe").
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TextIO

from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer

from starter.audit.parallel import REPLAYERS, replay_all
from starter.cli.output import Progress
from workflows.disagreement import DisagreementWorkflow
from workflows.runner import replay_runner

_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_EVENT = re.compile(r"HistoryEvent\(id: (\d+),? (\w+)")
_EVENT_ID = re.compile(r"event[ _]?id[:=]? *'?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class FailurePlace:
    """What went wrong in a replay, and where in the history if the error says."""

    message: str
    event_id: int | None = None
    event_type: str | None = None

    def text(self) -> str:
        where = "at an event the error does not name"
        if self.event_id is not None:
            where = f"at history event {self.event_id}"
            if self.event_type:
                where += f" ({self.event_type})"
        return f"{where}: {self.message}"


def describe_failure(exc: BaseException) -> FailurePlace:
    """The core's message and the event it names, out of a replay failure's text."""
    raw = str(exc)
    inner = _MESSAGE.search(raw)
    message = inner.group(1).replace('\\"', '"') if inner else raw
    event = _EVENT.search(raw)
    if event:
        return FailurePlace(message, int(event.group(1)), event.group(2))
    loose = _EVENT_ID.search(raw)
    return FailurePlace(message, int(loose.group(1)) if loose else None)


@lru_cache(maxsize=1)
def quiet_runtime() -> Runtime:
    """A Temporal runtime whose core logs only errors: replay failures are reported by us
    (the default runtime prints a WARN line from the core for every failed replay task)."""
    return Runtime(telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))


@dataclass(frozen=True)
class ReplayOutcome:
    workflow_id: str
    run_id: str
    failure: FailurePlace | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def line(self) -> str:
        if self.failure is None:
            return f"{self.workflow_id}: replayed OK"
        return f"{self.workflow_id}: FAILED {self.failure.text()}"


async def replay_histories(
    histories: AsyncIterator[WorkflowHistory],
    converter: DataConverter,
    *,
    workflows: Sequence[type] = (DisagreementWorkflow,),
    progress: Progress | None = None,
) -> list[ReplayOutcome]:
    """Replay every history (a few Replayers at once, :mod:`.parallel`; failures collected,
    never raised), in the order given."""
    seen: list[WorkflowHistory] = []

    async def feed() -> AsyncIterator[WorkflowHistory]:
        async for history in histories:
            seen.append(history)
            yield history

    replayers = [Replayer(workflows=list(workflows), data_converter=converter,
                          runtime=quiet_runtime(), workflow_runner=replay_runner())
                 for _ in range(REPLAYERS)]
    failures: dict[str, Exception] = {}
    async for result in replay_all(feed(), replayers):
        if result.replay_failure is not None:
            failures[result.history.run_id] = result.replay_failure
        if progress:
            progress.tick()
    if seen and progress:
        progress.done()
    return [ReplayOutcome(h.workflow_id, h.run_id,
                          describe_failure(failures[h.run_id]) if h.run_id in failures else None)
            for h in seen]


async def replay_and_report(
    histories: AsyncIterator[WorkflowHistory],
    converter: DataConverter,
    *,
    total: int | None = None,
    workflows: Sequence[type] = (DisagreementWorkflow,),
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Replay, print one line per case and a summary; 0 if all replayed, 1 otherwise."""
    out, err = out or sys.stdout, err or sys.stderr
    progress = Progress(total, err) if total is not None and total > 1 else None
    outcomes = await replay_histories(histories, converter, workflows=workflows,
                                      progress=progress)
    return report_outcomes(outcomes, out)


def report_outcomes(outcomes: list[ReplayOutcome], out: TextIO | None = None) -> int:
    """One line per case and a summary; 0 if all replayed, 1 otherwise."""
    out = out or sys.stdout
    for outcome in outcomes:
        print(outcome.line(), file=out)
    failed = [o for o in outcomes if not o.ok]
    if not outcomes:
        print("No histories to replay.", file=out)
        return 0
    print(f"{len(outcomes) - len(failed)} replayed OK, {len(failed)} failed.", file=out)
    if failed:
        print("A failure means today's workflow code would take a different path from what "
              "these cases recorded: put the change behind workflow.patched(...) "
              "(README, 'Keeping running cases safe').", file=out)
    return 1 if failed else 0
