"""Histories in and out: from the server or exported JSON files, and the case they belong to.

Exports are Temporal's own JSON (``WorkflowHistory.to_json()``, the shape ``temporal workflow
show --output json`` and the web UI download use), with payloads exactly as stored on the server:
encrypted by the payload codec, so an export file holds no case data in clear.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter

from protocols.messages import CaseInput
from starter.cases import workflow_id_for

WORKFLOW_TYPE = "DisagreementWorkflow"


def event_time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def event_kind(event: HistoryEvent) -> str:
    """'ActivityTaskScheduled' for EVENT_TYPE_ACTIVITY_TASK_SCHEDULED."""
    name = HistoryEvent.DESCRIPTOR.fields_by_name["event_type"].enum_type.values_by_number[
        event.event_type].name
    return "".join(part.capitalize() for part in name.removeprefix("EVENT_TYPE_").split("_"))


def looks_like_file(text: str) -> bool:
    """An argument naming a history file rather than a case id."""
    return text.endswith(".json") or Path(text).is_file()


def read_history_file(path: str | Path) -> WorkflowHistory:
    """A history exported as JSON (ours, the Temporal CLI's or the web UI's)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read history file {p}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"history file {p} is not JSON: {exc.msg}") from None
    try:
        history = WorkflowHistory.from_json(p.stem, data)
        _ = history.run_id
    except Exception as exc:  # noqa: BLE001 - any parse problem is the file's fault
        raise ValueError(f"history file {p} is not a Temporal workflow history: {exc}") from None
    return history


async def started_input(history: WorkflowHistory, converter: DataConverter) -> CaseInput:
    """The case's input, decoded (and decrypted) from WorkflowExecutionStarted."""
    first = history.events[0].workflow_execution_started_event_attributes
    if first.workflow_type.name != WORKFLOW_TYPE:
        raise ValueError(f"{history.workflow_id} is a {first.workflow_type.name} workflow, "
                         f"not a {WORKFLOW_TYPE}")
    [inp] = await converter.decode(first.input.payloads, [CaseInput])
    return inp


async def named_for_case(history: WorkflowHistory, converter: DataConverter) -> WorkflowHistory:
    """The same history under its case's workflow id (a file's name is not the case id)."""
    inp = await started_input(history, converter)
    return WorkflowHistory(workflow_id_for(inp.protocol.id, inp.case.reference), history.events)


async def load_files(paths: Sequence[str], converter: DataConverter) -> list[WorkflowHistory]:
    return [await named_for_case(read_history_file(p), converter) for p in paths]


async def fetch(client: Client, workflow_id: str, run_id: str | None = None) -> WorkflowHistory:
    """A case's full history from the server (payloads still encrypted)."""
    return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()


def export_json(history: WorkflowHistory) -> str:
    return history.to_json()


def visibility_query(*, closed_only: bool = False, extra: str | None = None,
                     started_from: datetime | None = None,
                     started_before: datetime | None = None) -> str:
    """A list filter for DisagreementWorkflow executions (built-in attributes only, so it works
    whether or not the server has our custom search attributes registered)."""
    parts = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    if closed_only:
        parts.append("ExecutionStatus != 'Running'")
    if started_from is not None:
        parts.append(f"StartTime >= '{started_from.astimezone(UTC).isoformat()}'")
    if started_before is not None:
        parts.append(f"StartTime < '{started_before.astimezone(UTC).isoformat()}'")
    if extra:
        parts.append(f"({extra})")
    return " AND ".join(parts)


async def count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


#: Histories fetched at once while the replayer works through earlier ones.
FETCH_AT_ONCE = 8


async def list_histories(client: Client, query: str,
                         at_once: int = FETCH_AT_ONCE) -> AsyncIterator[WorkflowHistory]:
    """Every matching execution's history, in listing order, ``at_once`` fetched ahead."""
    async def listed() -> AsyncIterator[tuple[str, str | None]]:
        async for execution in client.list_workflows(query):
            yield execution.id, execution.run_id

    async for history in fetch_ahead(client, listed(), at_once):
        yield history


async def fetch_ahead(client: Client, executions: AsyncIterable[tuple[str, str | None]],
                      at_once: int = FETCH_AT_ONCE) -> AsyncIterator[WorkflowHistory]:
    """The histories of ``executions`` (workflow id, run id), in order, ``at_once`` ahead."""
    ahead: deque[asyncio.Task[WorkflowHistory]] = deque()
    try:
        async for workflow_id, run_id in executions:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            ahead.append(asyncio.ensure_future(handle.fetch_history()))
            if len(ahead) >= at_once:
                yield await ahead.popleft()
        while ahead:
            yield await ahead.popleft()
    finally:
        for task in ahead:
            task.cancel()


async def list_case_histories(client: Client, query: str) -> AsyncIterator[WorkflowHistory]:
    """One history per matching case: its latest run, which carries the whole record of a case
    that continued as new. A case matches when any of its runs does (a window on StartTime
    matches the first run, started when the case was raised)."""
    seen: set[str] = set()
    async for wf in client.list_workflows(query):
        if wf.id in seen:
            continue
        seen.add(wf.id)
        continued = wf.status is not None and wf.status.name == "CONTINUED_AS_NEW"
        yield await fetch(client, wf.id, None if continued else wf.run_id)


async def runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a case, first first: its latest run and the runs it continued from."""
    out = [await fetch(client, workflow_id)]
    while True:
        started = out[0].events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return out
        out.insert(0, await fetch(client, workflow_id, started.continued_execution_run_id))


async def iterate(histories: Iterable[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history
