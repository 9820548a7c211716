"""The Temporal Schedule that starts the daily digest (:mod:`workflows.digest`).

``ensure_digest_schedule`` creates it, or brings an existing one up to date: every day at
``DIGEST_HOUR``:``DIGEST_MINUTE`` London time, one run at a time, on the worker's task queue.
`resolutions setup-cluster` and the embedded stack (``./dev start``) both call it.
"""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from infra.settings import Settings
from protocols.digest import DIGEST_SCHEDULE_ID, DIGEST_WORKFLOW, DigestInput

DIGEST_HOUR = 7
DIGEST_MINUTE = 30


def digest_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DIGEST_WORKFLOW, DigestInput(), id="resolutions-digest",
            task_queue=settings.task_queue),
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(
            hour=[ScheduleRange(DIGEST_HOUR)], minute=[ScheduleRange(DIGEST_MINUTE)],
            comment="the daily digest to each business unit")],
            time_zone_name="Europe/London"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_digest_schedule(client: Client, settings: Settings) -> str:
    """Create the digest schedule, or update it in place; 'created' or 'updated'."""
    schedule = digest_schedule(settings)
    try:
        await client.create_schedule(DIGEST_SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(DIGEST_SCHEDULE_ID).update(update)
        return "updated"
