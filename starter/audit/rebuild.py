"""A case's own record (state and timeline) rebuilt from its history alone.

How, and why this way. The timeline is what the workflow itself wrote, event by event, while it
ran; a second interpreter of raw history events would be a parallel implementation that could
quietly disagree with it. So the history is *replayed*: ``temporalio.worker.Replayer`` runs
today's :class:`~workflows.disagreement.DisagreementWorkflow` over the recorded facts only (the
input, every activity result such as the computed deadlines and e-mail receipts, signals,
accepted updates, fired timers), exactly as a worker does after a restart. Nothing is recomputed
from today's calendar, clock or mail server. A workflow interceptor keeps a reference to the
workflow object, and when the history runs out we read the very objects the ``timeline`` and
``state`` queries return. For the same history that is, by construction, what a query answered.

For a closed case the history's last event already holds the :class:`CaseRecord` the workflow
returned, under the code it ran with. That is authoritative and used as is; the replay then
checks that today's code tells the same story. For a running case replay is the only way. If
replay fails (today's code is not compatible with the history), the record as far as replay got
is returned with ``source="partial replay"`` and a failed check: never passed off as complete.
Cross-checks against the decoded facts (:mod:`.facts`) are attached to every record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from protocols.calendar_table import CalendarTable
from protocols.messages import CarriedCase, CaseInput, CaseRecord
from starter.audit.audited_case import AuditedCase, Check
from starter.audit.facts import MAIL_ACTIVITIES, Facts, decode_facts
from starter.audit.history import event_kind, event_time, started_input
from starter.audit.parallel import REPLAYERS, replay_all
from starter.audit.replay import describe_failure, quiet_runtime
from workflows.disagreement import DisagreementWorkflow
from workflows.runner import replay_runner


class CaptureInstances(Interceptor):
    """Keeps each replayed workflow object, by run id, for reading after replay."""

    def __init__(self) -> None:
        self.instances: dict[str, Any] = {}

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        instances = self.instances

        class _Inbound(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                instances[workflow.info().run_id] = workflow.instance()
                return await super().execute_workflow(input)

        return _Inbound


def _recorded_result(history: WorkflowHistory) -> Any:
    last = history.events[-1]
    if last.HasField("workflow_execution_completed_event_attributes"):
        return last.workflow_execution_completed_event_attributes.result.payloads
    return None


def _execution_status(history: WorkflowHistory) -> str:
    kind = event_kind(history.events[-1])
    if kind.startswith("WorkflowExecution") and kind not in (
            "WorkflowExecutionStarted", "WorkflowExecutionSignaled",
            "WorkflowExecutionUpdateAccepted", "WorkflowExecutionUpdateCompleted",
            "WorkflowExecutionUpdateAdmitted", "WorkflowExecutionCancelRequested"):
        return kind.removeprefix("WorkflowExecution").lower()
    return "running"


def _replayed(instance: Any, at: datetime) -> CaseRecord | None:
    """The workflow object's own record: what its ``state``/``timeline`` queries return.

    ``state()`` needs a workflow context for ``workflow.now()``, so the snapshot is taken from
    the case book both queries read, at the time of the history's last event."""
    if instance is None:
        return None
    book = instance._book  # noqa: SLF001 - the object the workflow's queries read
    return CaseRecord(state=book.snapshot(at), timeline=instance.timeline())


def cross_checks(record: CaseRecord, facts: Facts,
                 carried: CarriedCase | None = None) -> list[Check]:
    """Does the record rest on the history's facts? Deadlines and e-mails, one by one. In a
    run a case continued into, what it carried from its earlier runs rests on theirs (each
    checked by replaying it): its deadlines' instants and e-mail receipts count as known."""
    answered: set[datetime] = set()
    for d in carried.deadlines if carried else []:
        answered.update(t for t in (d.due, d.remind_at, d.latest_allowed) if t is not None)
    for fact in facts.of("activity"):
        if fact.name in ("compute_deadlines", "shift_after_pause"):
            for answer in fact.data["result"] or []:
                for key in ("due", "remind_at", "latest_allowed"):
                    if answer.get(key):
                        answered.add(datetime.fromisoformat(answer[key]))
    # Issue 18: a case works most deadlines out from its recorded calendar table (replay has
    # just redone that arithmetic); a deadline rests on it if the table covers its day.
    tables = [CalendarTable.model_validate(f.data["result"]) for f in facts.of("activity")
              if f.name == "calendar_table" and f.data.get("result")]
    if carried is not None and carried.calendar_table is not None:
        tables.append(carried.calendar_table)
    dues = [d for d in record.state.deadlines if d.due is not None]
    unexplained = [d.key for d in dues if d.due not in answered
                   and not any(t.covers(d.due) for t in tables)]
    checks = [Check(name="deadlines come from recorded calendar answers", ok=not unexplained,
                    detail=f"{len(dues)} deadline(s)" + (
                        f"; not found: {', '.join(unexplained)}" if unexplained else ""))]
    receipts = {f.data["result"].get("message_id") for f in facts.of("activity")
                if f.name in MAIL_ACTIVITIES}
    receipts |= {e.details.get("message_id") for e in (carried.timeline if carried else [])
                 if e.kind == "notification_sent"}
    told = [e.details.get("message_id") for e in record.timeline if e.kind == "notification_sent"]
    missing = [m for m in told if m not in receipts]
    checks.append(Check(
        name="e-mails match the notification activity's receipts", ok=not missing,
        detail=f"{len(told)} sent, {len(receipts)} receipt(s) in history"
               + (f"; no receipt for {', '.join(str(m) for m in missing)}" if missing else "")))
    signals, updates = len(facts.of("signal")), len(facts.of("update"))
    by_signal = sum(1 for e in record.timeline if e.via == "signal")
    by_update = sum(1 for e in record.timeline if e.via == "update")
    checks.append(Check(
        name="every signal and accepted update left a mark on the timeline",
        ok=signals <= by_signal and updates <= by_update,
        detail=f"{signals} signal(s) → {by_signal} event(s); "
               f"{updates} update(s) → {by_update} event(s)"))
    return checks


class Rebuilder:
    """Rebuilds case files from histories with a few Replayers (reuse it for many cases)."""

    def __init__(self, converter: DataConverter,
                 workflows: Sequence[type] = (DisagreementWorkflow,)) -> None:
        self.converter = converter
        self.capture = CaptureInstances()
        self.replayers = [Replayer(workflows=list(workflows), data_converter=converter,
                                   interceptors=[self.capture], runtime=quiet_runtime(),
                                   workflow_runner=replay_runner())
                          for _ in range(REPLAYERS)]

    async def rebuild(self, history: WorkflowHistory) -> AuditedCase:
        [case] = [c async for c in self.rebuild_many(_one(history), replayers=1)]  # run to the
        return case  # end: the replayer's worker shuts down when its iterator is exhausted

    async def rebuild_many(self, histories: AsyncIterator[WorkflowHistory], *,
                           replayers: int = REPLAYERS) -> AsyncIterator[AuditedCase]:
        """One case file per history, in the order given (replayed a few at once)."""
        places: dict[str, list[int]] = {}
        fed = 0

        async def feed() -> AsyncIterator[WorkflowHistory]:
            nonlocal fed
            async for history in histories:
                places.setdefault(history.run_id, []).append(fed)
                fed += 1
                yield history

        ready: dict[int, AuditedCase] = {}
        upto = 0
        async for result in replay_all(feed(), self.replayers[:replayers]):
            place = places[result.history.run_id].pop(0)
            ready[place] = await self._case_file(result.history, result.replay_failure)
            while upto in ready:
                yield ready.pop(upto)
                upto += 1

    async def _case_file(self, history: WorkflowHistory, failure: Exception | None) -> AuditedCase:
        inp: CaseInput = await started_input(history, self.converter)
        at = event_time(history.events[-1])
        replayed = _replayed(self.capture.instances.pop(history.run_id, None), at)
        facts = await decode_facts(history, self.converter)
        checks: list[Check] = []
        if failure is not None:
            where = describe_failure(failure)
            checks.append(Check(name="replays against today's code", ok=False,
                                detail=where.text()))
        else:
            checks.append(Check(name="replays against today's code", ok=True))
        recorded_payloads = _recorded_result(history)
        if recorded_payloads is not None:
            [record] = await self.converter.decode(recorded_payloads, [CaseRecord])
            source = "recorded result"
            if replayed is not None and failure is None:
                # a history read from a file is named from its input (the file does not say)
                named = replayed.state.model_copy(
                    update={"workflow_id": record.state.workflow_id})
                same = replayed.timeline == record.timeline and named == record.state
                checks.append(Check(
                    name="today's code tells the same story as the recorded result", ok=same,
                    detail="" if same else "the replayed timeline or state differs; the "
                                           "recorded result is shown"))
        elif replayed is not None:
            record = replayed
            source = "replay" if failure is None else "partial replay"
        else:
            raise ValueError(f"{history.workflow_id}: replay failed before the workflow started"
                             f" ({describe_failure(failure).text() if failure else 'no detail'})")
        checks += cross_checks(record, facts, inp.carried)
        status = _execution_status(history)
        return AuditedCase(
            workflow_id=record.state.workflow_id, run_id=history.run_id, input=inp,
            state=record.state, timeline=record.timeline, running=status == "running",
            execution_status=status, source=source, checks=checks,  # type: ignore[arg-type]
            history_events=len(history.events), last_event_at=at, facts=facts.facts)


async def _one(history: WorkflowHistory) -> AsyncIterator[WorkflowHistory]:
    yield history


async def rebuild(history: WorkflowHistory, converter: DataConverter) -> AuditedCase:
    """One case file from one history (see the module docstring for how)."""
    return await Rebuilder(converter).rebuild(history)
