"""`audit replay --all` over many closed cases in several processes at once, one per core.

A replay is CPU work in one Python process (its GIL, and the SDK core's hand-offs to it), so
one process replays at most about one core's worth. With hundreds of closed cases to check,
the listing is split into contiguous parts and each part is fetched and replayed by its own
process (``spawn``ed: a fork of a process holding the SDK's threads is unsafe), each with its
own client, made from the same settings as the command's. Outcomes come back in the listing's
order, so the report reads the same however many processes ran.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from temporalio.client import Client

from starter.audit.history import fetch_ahead
from starter.audit.replay import FailurePlace, ReplayOutcome

#: Below this many histories a part, a process's start-up (~0.5 s) costs more than it saves.
MIN_PER_PROCESS = 200

Execution = tuple[str, str]  # workflow id, run id


def processes_for(total: int, asked: int | None = None) -> int:
    """How many processes: as asked, else one per core while each gets enough to do."""
    if asked is not None:
        return max(1, asked)
    return max(1, min(os.cpu_count() or 1, total // MIN_PER_PROCESS))


async def executions(client: Client, query: str) -> list[Execution]:
    """Every matching execution, in listing order."""
    return [(wf.id, wf.run_id) async for wf in client.list_workflows(query)]


def split(items: Sequence[Execution], parts: int) -> list[list[Execution]]:
    """Contiguous parts of near-equal size, in order (none empty)."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        if end > start:
            out.append(list(items[start:end]))
        start = end
    return out


async def _listed(part: Sequence[Execution]) -> AsyncIterator[Execution]:
    for execution in part:
        yield execution


def replay_part(part: list[Execution]) -> list[tuple[str, str, dict | None]]:
    """Run in a child process: fetch and replay one part; plain tuples travel back."""
    return asyncio.run(_replay_part(part))


async def _replay_part(part: list[Execution]) -> list[tuple[str, str, dict | None]]:
    from infra.connection import build_converter, connect
    from infra.settings import load_settings
    from starter.audit.replay import replay_histories

    settings = load_settings()
    converter = build_converter(settings)
    client = await connect(settings, converter)
    outcomes = await replay_histories(fetch_ahead(client, _listed(part)), converter)
    return [(o.workflow_id, o.run_id, o.failure.__dict__ if o.failure else None)
            for o in outcomes]


async def replay_in_processes(found: list[Execution], processes: int) -> list[ReplayOutcome]:
    """Every execution replayed, ``processes`` parts at once; outcomes in listing order."""
    parts = split(found, processes)
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=len(parts), mp_context=context) as pool:
        results = await asyncio.gather(*(loop.run_in_executor(pool, replay_part, part)
                                         for part in parts))
    return [ReplayOutcome(wid, run_id, FailurePlace(**failure) if failure else None)
            for result in results for wid, run_id, failure in result]
