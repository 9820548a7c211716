"""The calendar's answers (deadline arithmetic, a pause's shift), asked of the worker's
calendar activities.

An answer is a recorded fact: the activity's result is in history, read back on replay, so a
later ``holidays`` release cannot change a case that already ran, and the workflow itself never
looks a holiday up.

Local activities were tried here to spare a click the round trip through the server's activity
queue, but a history in which a local activity's result came back on an eagerly dispatched
workflow task failed to replay ("patch marker … no corresponding change command") under the
SDK in use, so the calendar stays an ordinary activity. The audit still reads local-activity
markers as calendar facts, should a history hold any.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from protocols.messages import DeadlineAnswer


async def ask_calendar(name: str, arg: Any, timeout: timedelta) -> list[DeadlineAnswer]:
    """``compute_deadlines`` or ``shift_after_pause``, as an activity of the case."""
    return await workflow.execute_activity(
        name, arg, result_type=list[DeadlineAnswer], start_to_close_timeout=timeout)
