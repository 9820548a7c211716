"""Replaying many histories with a few replayers at once.

One replayer works through its histories one at a time, and most of each history's time is the
hand-over between the SDK's core and Python; with a few replayers fed from one queue, one
history's Python work overlaps another's core work. Results come in the order replays finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowReplayResult

#: Replayers at once: measured on two cores, four is where adding more stopped helping.
REPLAYERS = 4
_DONE = object()


async def replay_all(histories: AsyncIterator[WorkflowHistory],
                     replayers: Sequence[Replayer]) -> AsyncIterator[WorkflowReplayResult]:
    """Every history replayed by one of ``replayers``; failures are in the results, never
    raised (an error fetching the histories is)."""
    todo: asyncio.Queue[WorkflowHistory | None] = asyncio.Queue(maxsize=len(replayers))
    done: asyncio.Queue[object] = asyncio.Queue()

    async def produce() -> None:
        try:
            async for history in histories:
                await todo.put(history)
        finally:
            for _ in replayers:
                await todo.put(None)

    async def feed() -> AsyncIterator[WorkflowHistory]:
        while (history := await todo.get()) is not None:
            yield history

    async def consume(replayer: Replayer) -> None:
        async with replayer.workflow_replay_iterator(feed()) as results:
            async for result in results:
                await done.put(result)

    async def run() -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(produce())
                for replayer in replayers:
                    group.create_task(consume(replayer))
        except BaseExceptionGroup as errors:
            raise errors.exceptions[0] from None
        finally:
            done.put_nowait(_DONE)

    runner = asyncio.create_task(run())
    try:
        while (item := await done.get()) is not _DONE:
            yield item  # type: ignore[misc]
        await runner
    finally:
        runner.cancel()
