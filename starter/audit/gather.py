"""Collecting case records from Temporal for the log and the report.

Every case is rebuilt from its history (:mod:`.rebuild`): the recorded result for closed cases,
a replay for running ones. That needs no worker to be running and reads the same facts for
every case, whatever its state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta

from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter

from protocols.calendar import LONDON
from starter.audit.audited_case import AuditedCase
from starter.audit.history import count, list_case_histories, visibility_query
from starter.audit.rebuild import Rebuilder
from starter.cli.output import Progress


def started_between(start: date | None, end: date | None) -> tuple[datetime | None,
                                                                   datetime | None]:
    """London dates (inclusive) as the instants a StartTime filter needs."""
    lo = datetime.combine(start, time(0), tzinfo=LONDON) if start else None
    hi = datetime.combine(end + timedelta(days=1), time(0), tzinfo=LONDON) if end else None
    return lo, hi


async def gather_cases(client: Client, converter: DataConverter, query: str,
                       progress_label: str = "rebuilding") -> list[AuditedCase]:
    """Every case the visibility query lists, rebuilt from its history."""
    total = await count(client, query)
    progress = Progress(total, label=progress_label) if total > 1 else None

    async def feed() -> AsyncIterator[WorkflowHistory]:
        async for history in list_case_histories(client, query):
            yield history

    cases: list[AuditedCase] = []
    async for case in Rebuilder(converter).rebuild_many(feed()):
        cases.append(case)
        if progress:
            progress.tick()
    if progress:
        progress.done()
    return cases


def case_query(start: date | None = None, end: date | None = None, *,
               raised_window: bool = True, protocol: str | None = None) -> str:
    """Cases started in the window (``raised_window``) or before its end, with a day's margin
    each side: the exact cut is made on the record's own ``raised`` time afterwards. With a
    ``protocol`` (a loaded protocol's id), only its cases are listed (their workflow ids start
    with it), so a partnership's report does not rebuild every other partnership's cases."""
    lo, hi = started_between(start, end)
    margin = timedelta(days=1)
    return visibility_query(started_from=lo - margin if lo and raised_window else None,
                            started_before=hi + margin if hi else None,
                            extra=f"WorkflowId STARTS_WITH '{protocol}-'" if protocol else None)
