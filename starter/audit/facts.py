"""The raw facts of a history, decoded: what the workflow was given and what it was told.

These are the inputs replay feeds the workflow (input, activity results, signals, accepted
updates, fired timers) plus what it published (search attributes, its result). They are shown
as evidence next to a rebuilt timeline and used to cross-check it (:mod:`.rebuild`).
Payloads are decrypted with the same converter the worker uses. Only a summary of the input
and of each e-mail request is kept: the child's details never appear in a fact.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payloads, SearchAttributes
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter, default

from starter.audit.history import event_kind, event_time


class Fact(BaseModel):
    """One decoded history event that matters to the case."""

    event_id: int
    at: datetime
    kind: str  # started, activity, activity_failed, signal, update, update_completed,
    #            timer_fired, search_attributes, completed, closed
    name: str = ""
    data: Any = None


class Facts(BaseModel):
    facts: list[Fact] = Field(default_factory=list)

    def of(self, kind: str, name: str | None = None) -> list[Fact]:
        return [f for f in self.facts if f.kind == kind and (name is None or f.name == name)]


async def _values(converter: DataConverter, payloads: Payloads) -> list[Any]:
    if not payloads.payloads:
        return []
    return await converter.decode(payloads.payloads)


async def _local_activity(converter: DataConverter, marker: Any) -> tuple[str, Any] | None:
    """A local activity's name and result, from the marker the core records for it."""
    if marker.marker_name != "core_local_activity" or "result" not in marker.details:
        return None
    data = marker.details["data"].payloads
    name = json.loads(data[0].data).get("activity_type", "?") if data else "?"
    [result] = await _values(converter, marker.details["result"]) or [None]
    return name, result


def _input_summary(inp: dict[str, Any]) -> dict[str, Any]:
    case = inp.get("case", {})
    return {
        "protocol": inp.get("protocol", {}).get("id"),
        "protocol_hash": inp.get("protocol_hash"),
        "reference": case.get("reference"),
        "urgency": inp.get("urgency"),
        "category": case.get("category"),
        "raising_agency": case.get("raising", {}).get("agency"),
        "receiving_agency": case.get("receiving", {}).get("agency"),
        "raised_by": inp.get("raised_by", {}).get("name"),
    }


# The e-mail activities: with the whole record (before issue 14), or by query (MailEvent).
MAIL_ACTIVITIES = ("send_notification", "send_case_email")


def _mail_summary(request: dict[str, Any]) -> dict[str, Any]:
    keys = ("event", "event_key", "stage", "to", "cc", "deadline_key")
    return {k: request.get(k) for k in keys}


def search_attribute_values(attrs: SearchAttributes) -> dict[str, list[Any]]:
    """Each upserted search attribute as a list of JSON-ready values; ``[]`` when unset.

    An attribute the workflow unset (``CaseNextDeadline`` once no stage has a fixed deadline,
    and on every closed case) arrives as a null payload typed ``Datetime``: the SDK's own
    ``decode_search_attributes`` passes that null to ``fromisoformat`` and fails, so the values
    are read here one by one, and anything that does not parse is kept as the text it was."""
    converter = default().payload_converter
    out: dict[str, list[Any]] = {}
    for name, payload in attrs.indexed_fields.items():
        try:
            value = converter.from_payloads([payload])[0] if payload.data else None
        except Exception:  # noqa: BLE001 - a value we cannot read is shown, never fatal
            value = payload.data.decode("utf-8", "replace")
        values = value if isinstance(value, list) else [] if value is None else [value]
        out[name] = [v.isoformat() if isinstance(v, datetime) else v
                     for v in values if v is not None]
    return out


async def decode_facts(history: WorkflowHistory, converter: DataConverter) -> Facts:
    """Decode every event the case's story rests on, in history order."""
    out: list[Fact] = []
    scheduled: dict[int, tuple[str, Any]] = {}
    timers: dict[int, datetime] = {}
    updates: dict[str, str] = {}

    def add(event: HistoryEvent, kind: str, name: str = "", data: Any = None) -> None:
        out.append(Fact(event_id=event.event_id, at=event_time(event), kind=kind, name=name,
                        data=data))

    for ev in history.events:
        which = ev.WhichOneof("attributes")
        if which == "workflow_execution_started_event_attributes":
            a = ev.workflow_execution_started_event_attributes
            [inp] = await _values(converter, a.input) or [{}]
            add(ev, "started", a.workflow_type.name, _input_summary(inp))
        elif which == "activity_task_scheduled_event_attributes":
            a = ev.activity_task_scheduled_event_attributes
            args = await _values(converter, a.input)
            request = args[0] if args else None
            if a.activity_type.name in MAIL_ACTIVITIES and isinstance(request, dict):
                request = _mail_summary(request)
            scheduled[ev.event_id] = (a.activity_type.name, request)
        elif which == "activity_task_completed_event_attributes":
            a = ev.activity_task_completed_event_attributes
            name, request = scheduled.get(a.scheduled_event_id, ("?", None))
            [result] = await _values(converter, a.result) or [None]
            add(ev, "activity", name, {"request": request, "result": result})
        elif which == "marker_recorded_event_attributes":
            local = await _local_activity(converter, ev.marker_recorded_event_attributes)
            if local is not None:  # a calendar answer computed in the workflow task
                add(ev, "activity", local[0], {"request": None, "result": local[1]})
        elif which in ("activity_task_failed_event_attributes",
                       "activity_task_timed_out_event_attributes"):
            a = getattr(ev, which)
            name, request = scheduled.get(a.scheduled_event_id, ("?", None))
            add(ev, "activity_failed", name, {"request": request,
                                              "failure": a.failure.message})
        elif which == "workflow_execution_signaled_event_attributes":
            a = ev.workflow_execution_signaled_event_attributes
            [payload] = await _values(converter, a.input) or [None]
            add(ev, "signal", a.signal_name, payload)
        elif which == "workflow_execution_update_accepted_event_attributes":
            a = ev.workflow_execution_update_accepted_event_attributes
            request = a.accepted_request
            updates[request.meta.update_id] = request.input.name
            [payload] = await _values(converter, request.input.args) or [None]
            add(ev, "update", request.input.name, payload)
        elif which == "workflow_execution_update_completed_event_attributes":
            a = ev.workflow_execution_update_completed_event_attributes
            name = updates.get(a.meta.update_id, "")
            if a.outcome.HasField("failure"):
                add(ev, "update_completed", name, {"failure": a.outcome.failure.message})
            else:
                [result] = await _values(converter, a.outcome.success) or [None]
                message = result.get("message") if isinstance(result, dict) else result
                add(ev, "update_completed", name, {"message": message})
        elif which == "timer_started_event_attributes":
            timers[ev.event_id] = event_time(ev)
        elif which == "timer_fired_event_attributes":
            a = ev.timer_fired_event_attributes
            started = timers.get(a.started_event_id)
            add(ev, "timer_fired", a.timer_id,
                {"started": started.isoformat() if started else None})
        elif which == "upsert_workflow_search_attributes_event_attributes":
            a = ev.upsert_workflow_search_attributes_event_attributes
            add(ev, "search_attributes", "", search_attribute_values(a.search_attributes))
        elif which == "workflow_execution_completed_event_attributes":
            a = ev.workflow_execution_completed_event_attributes
            [result] = await _values(converter, a.result) or [None]
            state = result.get("state", {}) if isinstance(result, dict) else {}
            add(ev, "completed", "", {"status": state.get("status"),
                                      "stage": state.get("stage")})
        elif which and which.startswith("workflow_execution_") and which.endswith(
                ("failed_event_attributes", "terminated_event_attributes",
                 "timed_out_event_attributes", "canceled_event_attributes",
                 "continued_as_new_event_attributes")):
            add(ev, "closed", event_kind(ev))
    return Facts(facts=out)
