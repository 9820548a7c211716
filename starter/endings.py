"""Cases that ended outside the protocol: terminated, timed out, failed or cancelled in Temporal
(say from its web UI), not closed by the workflow itself.

Such a case's own record stops wherever it was (its status still says "open"), so every reader
asks Temporal how the run ended and says so; retention keeps it as if on legal hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the Temporal SDK loads only when a command talks to Temporal
    from temporalio.client import Client, WorkflowExecutionStatus

# Temporal's execution status (by name) -> the word shown to people.
ABNORMAL = {"TERMINATED": "terminated", "TIMED_OUT": "timed out", "FAILED": "failed",
            "CANCELED": "cancelled"}
# The same, as the audit's history reader names them (the last event's kind, lower case).
_FROM_HISTORY = {"terminated": "terminated", "timedout": "timed out", "failed": "failed",
                 "canceled": "cancelled"}
# Visibility names, for list queries.
ABNORMAL_QUERY = ("ExecutionStatus = 'Terminated' OR ExecutionStatus = 'TimedOut' OR "
                  "ExecutionStatus = 'Failed' OR ExecutionStatus = 'Canceled'")


@dataclass(frozen=True)
class Ending:
    """How a case's run ended abnormally, and when."""

    label: str  # "terminated", "timed out", "failed", "cancelled"
    at: datetime | None

    def sentence(self) -> str:
        when = f" on {self.at:%d %B %Y at %H:%M} UTC" if self.at else ""
        return (f"This case was {self.label} in Temporal{when}, outside the protocol: its "
                "record stops there, nothing more can be recorded on it, and it is kept "
                "(never purged automatically) until someone reviews it.")


def label_of(status: WorkflowExecutionStatus | None) -> str:
    """'' for a running or completed run; else how it ended."""
    return ABNORMAL.get(status.name, "") if status is not None else ""


def label_from_history(execution_status: str) -> str:
    """The audit reader's execution status ("terminated", "timedout"…) as shown; '' if normal."""
    return _FROM_HISTORY.get(execution_status, "")


async def ending(client: Client, workflow_id: str, run_id: str = "") -> Ending | None:
    """How the case's run ended, if abnormally (None while running or once completed). With
    ``run_id`` (a link's first run), the latest run of that case: one that continued as new
    goes on in its next run, and that one's ending counts."""
    desc = await client.get_workflow_handle(workflow_id,
                                            first_execution_run_id=run_id or None).describe()
    label = label_of(desc.status)
    return Ending(label, desc.close_time) if label else None
