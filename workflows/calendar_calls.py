"""The calendar's answers (deadline arithmetic, a pause's shift) as local activities.

The worker computes them in the same workflow task, so a click that needs a new deadline
("resume", "not resolved", an agreed timescale) is answered without a round trip through the
server's activity queue. The answer is still a recorded fact: a local activity's result is a
marker in history, read back on replay, so a later ``holidays`` release cannot change a case
that already ran, and the workflow itself never looks a holiday up.

Cases started before this change go on with ordinary activities (``workflow.patched``), so
their histories replay unchanged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from protocols.messages import DeadlineAnswer

PATCH = "calendar-local-activity"


async def ask_calendar(name: str, arg: Any, timeout: timedelta) -> list[DeadlineAnswer]:
    """``compute_deadlines`` or ``shift_after_pause``, locally where the case allows it."""
    if workflow.patched(PATCH):
        return await workflow.execute_local_activity(
            name, arg, result_type=list[DeadlineAnswer], start_to_close_timeout=timeout)
    return await workflow.execute_activity(
        name, arg, result_type=list[DeadlineAnswer], start_to_close_timeout=timeout)
