"""Retention: remove closed cases past their retention period from Temporal and the mail store.

A case on legal hold is never purged, nor is one that ended outside the protocol (terminated,
timed out, failed or cancelled in Temporal): its record stops short, so it is kept as if held
until someone has reviewed it. Every purge is recorded (ids and dates only, no case
data) in ``<data_dir>/purge-log.jsonl`` so the partnership can show what was removed and when.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowFailureError

from infra.settings import Settings
from protocols.messages import CaseRecord
from starter import endings

# A case that continued as new is judged by its latest run (which carries its record); its
# earlier runs go with it when it is purged.
CLOSED_QUERY = ("WorkflowType = 'DisagreementWorkflow' AND ExecutionStatus != 'Running' "
                "AND ExecutionStatus != 'ContinuedAsNew'")


@dataclass
class PurgeDecision:
    workflow_id: str
    closed_at: str
    retention_class: str
    purge_after: str
    # "purged", "would purge", "kept: legal hold", "kept: within retention", or
    # "kept: terminated outside the protocol (review it; never purged automatically)"
    action: str
    mail_removed: int = 0


def retention_days(settings: Settings, retention_class: str) -> int:
    if retention_class == "extended":
        return settings.retention_days_extended
    return settings.retention_days_standard


async def purge(client: Client, settings: Settings, *, as_of: datetime | None = None,
                dry_run: bool = False) -> list[PurgeDecision]:
    as_of = as_of or datetime.now(UTC)
    decisions: list[PurgeDecision] = []
    async for wf in client.list_workflows(CLOSED_QUERY):
        handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=CaseRecord)
        try:
            record: CaseRecord | None = await handle.result()
        except WorkflowFailureError:  # failed or terminated: judge by close time, no hold known
            record = None
        state = record.state if record else None
        closed_at = (state.closed_at if state and state.closed_at else wf.close_time) or as_of
        retention_class = state.retention_class if state else "standard"
        purge_after = closed_at + timedelta(days=retention_days(settings, retention_class))
        decision = PurgeDecision(wf.id, closed_at.isoformat(), retention_class,
                                 purge_after.isoformat(), "kept: within retention")
        ended = endings.label_of(wf.status)
        if ended:
            decision.action = (f"kept: {ended} outside the protocol (its record stops short; "
                               "review it; never purged automatically)")
        elif state is not None and state.legal_hold:
            decision.action = "kept: legal hold"
        elif purge_after <= as_of:
            if dry_run:
                decision.action = "would purge"
            else:
                await delete_runs(client, wf.id, wf.run_id or "")
                decision.mail_removed = remove_mail(settings.data_dir, wf.id)
                decision.action = "purged"
                log_purge(settings.data_dir, decision, as_of)
        decisions.append(decision)
    return decisions


async def delete_runs(client: Client, workflow_id: str, run_id: str) -> None:
    """Delete a case's run and every earlier run it continued from (continue-as-new)."""
    earlier = [wf.run_id async for wf in client.list_workflows(
        f"WorkflowId = '{workflow_id}' AND ExecutionStatus = 'ContinuedAsNew'")]
    for run in [run_id, *earlier]:
        await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run or "")))


def remove_mail(data_dir: Path, workflow_id: str) -> int:
    """Delete the mail store's copies of a case's e-mails and their index lines."""
    folder = Path(data_dir) / "mail"
    index = folder / "index.jsonl"
    if not index.exists():
        return 0
    kept, removed = [], 0
    for line in index.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            kept.append(line)
            continue
        if entry.get("case") == workflow_id:
            (folder / entry.get("file_name", "")).unlink(missing_ok=True)
            removed += 1
        else:
            kept.append(line)
    index.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
    return removed


def log_purge(data_dir: Path, decision: PurgeDecision, as_of: datetime) -> None:
    path = Path(data_dir) / "purge-log.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({**asdict(decision), "purged_at": as_of.isoformat()}) + "\n")
