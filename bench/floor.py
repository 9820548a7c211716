"""The floor: a workflow with no logic doing a given count of activities, timers and updates,
and a worker for it. What our workflow costs above this is the benchmark's headline."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

QUEUE = "bench-floor"


class FloorInput(BaseModel):
    activities: int
    timers: int
    timer_seconds: float
    updates: int
    # Steady mode: then sleep like an open case on a deadline this long, until finished.
    wait_seconds: float = 0


class Poke(BaseModel):
    n: int


class Count(BaseModel):
    n: int


@activity.defn
async def floor_activity(n: int) -> int:
    return n


@workflow.defn
class FloorWorkflow:
    def __init__(self) -> None:
        self.received = 0
        self.finished = False

    @workflow.run
    async def run(self, inp: FloorInput) -> int:
        for i in range(inp.activities):
            await workflow.execute_activity(floor_activity, i,
                                            start_to_close_timeout=timedelta(seconds=30))
        for _ in range(inp.timers):
            await asyncio.sleep(inp.timer_seconds)
        await workflow.wait_condition(lambda: self.received >= inp.updates)
        if inp.wait_seconds:
            try:
                await workflow.wait_condition(lambda: self.finished,
                                              timeout=timedelta(seconds=inp.wait_seconds))
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.received

    @workflow.update
    async def poke(self, msg: Poke) -> Count:
        self.received += 1
        return Count(n=self.received)

    @workflow.update
    async def finish(self) -> Count:
        self.finished = True
        return Count(n=self.received)

    @poke.validator
    def _check(self, msg: Poke) -> None:
        if msg.n < 0:
            raise ValueError("negative")

    @workflow.query
    def count(self) -> Count:
        return Count(n=self.received)


async def main() -> None:
    client = await Client.connect(os.environ["BENCH_ADDRESS"],
                                  data_converter=pydantic_data_converter)
    cache = os.environ.get("BENCH_MAX_CACHED_WORKFLOWS")  # the same as ours, when given
    worker = Worker(client, task_queue=QUEUE, workflows=[FloorWorkflow],
                    activities=[floor_activity],
                    **({"max_cached_workflows": int(cache)} if cache else {}))
    print("Ready.", flush=True)
    await worker.run()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()
    os._exit(0)
