"""``DigestWorkflow``: the daily digest, started by a Temporal Schedule.

It only calls the ``send_digests`` activity (which lists the cases through visibility and
e-mails each business unit); the workflow itself does no I/O.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from protocols.digest import DIGEST_ACTIVITY, DigestInput, DigestResult


@workflow.defn(name="DigestWorkflow")
class DigestWorkflow:
    @workflow.run
    async def run(self, inp: DigestInput) -> DigestResult:
        return await workflow.execute_activity(
            DIGEST_ACTIVITY, inp, result_type=DigestResult,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=5,
                                     initial_interval=timedelta(seconds=30)))
