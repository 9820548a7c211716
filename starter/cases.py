"""Raising cases and acting on them: the one service layer behind the CLI and the web forms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError

from infra.settings import Settings
from protocols import actions
from protocols.actions import Refusal
from protocols.loader import load_protocol
from protocols.messages import (
    ActionResult,
    Actor,
    CaseDetails,
    CaseInput,
    CaseState,
    TimelineEvent,
    Urgency,
)
from workflows import search_attributes as sa
from workflows.disagreement import DisagreementWorkflow
from workflows.validation import REJECTED

FIELD_LABELS = {
    "issue": "the issue you are concerned about",
    "risk_to_child": "the risk to the child",
    "nature": "the nature of the disagreement",
    "aim": "what you aim to achieve",
}


class InvalidInput(ValueError):
    """Input a person gave that cannot be used; ``fields`` maps field names to problems."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


def explain_validation(exc: ValidationError, prefix: str = "") -> InvalidInput:
    fields: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "is not a field we know (check the spelling)"
        fields[prefix + name] = message
    summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
    return InvalidInput(summary, fields)


def workflow_id_for(protocol: str, reference: str) -> str:
    """Workflow ids come from the protocol and case reference only, never from names."""
    return f"{protocol}-{reference}".lower()


def build_case_input(
    protocol_name: str, details: dict[str, Any], urgency: Urgency, actor: Actor,
    *, search_attributes: bool = True,
) -> CaseInput:
    """Validate everything a raising form or command gave; clear errors per field."""
    protocol = load_protocol(protocol_name)
    try:
        case = CaseDetails.model_validate(details)
    except ValidationError as exc:
        raise explain_validation(exc) from None
    missing: dict[str, str] = {}
    if urgency != "immediate-risk":
        for name in protocol.required_case_fields:
            if not getattr(case, name):
                missing[name] = (f"The {protocol.short_name} protocol asks you to state "
                                 f"{FIELD_LABELS[name]} before starting")
    for pre in protocol.preconditions:
        if case.category == pre.applies_to_category and not case.conference_dissent_exhausted:
            missing["conference_dissent_exhausted"] = (
                f"{pre.requirement} first ({pre.source})")
    known = {v.id for v in protocol.routing_variants}
    for variant in case.variants:
        if variant not in known:
            names = ", ".join(sorted(known)) or "none"
            missing["variants"] = (f"'{variant}' is not a routing variant of "
                                   f"{protocol.short_name}; known: {names}")
    if not case.raising.agency:
        missing["raising.agency"] = "Say which agency is raising the disagreement"
    if not case.receiving.agency:
        missing["receiving.agency"] = "Say which agency the disagreement is with"
    if not case.raising.name:
        missing["raising.name"] = "Give the raising practitioner's name"
    if missing:
        raise InvalidInput("; ".join(missing.values()), missing)
    return CaseInput(protocol=protocol, protocol_hash=protocol.content_hash(), case=case,
                     urgency=urgency, raised_by=actor, search_attributes=search_attributes)


async def raise_case(client: Client, settings: Settings, inp: CaseInput) -> WorkflowHandle:
    wid = workflow_id_for(inp.protocol.id, inp.case.reference)
    attrs = None
    if inp.search_attributes:
        attrs = TypedSearchAttributes([
            SearchAttributePair(sa.CASE_PROTOCOL, inp.protocol.id),
            SearchAttributePair(sa.CASE_STATUS, "open"),
            SearchAttributePair(sa.CASE_URGENCY, inp.urgency),
            SearchAttributePair(sa.CASE_OVERDUE, False),
            SearchAttributePair(sa.CASE_RAISING_AGENCY, inp.case.raising.agency[:100]),
            SearchAttributePair(sa.CASE_RECEIVING_AGENCY, inp.case.receiving.agency[:100]),
        ])
    return await client.start_workflow(
        DisagreementWorkflow.run, inp, id=wid, task_queue=settings.task_queue,
        search_attributes=attrs,
    )


def _action(name: str) -> actions.ActionSpec:
    action = actions.find(name)
    if action is None:
        raise InvalidInput(f"there is no action '{name}'")
    return action


def parse_action(name: str, data: dict[str, Any]) -> BaseModel:
    """The message of the action ``name`` (its id or an alias) from what a person gave."""
    try:
        return _action(name).model.model_validate(data)
    except ValidationError as exc:
        raise explain_validation(exc) from None


async def act(client: Client, workflow_id: str, name: str, message: BaseModel,
              *, as_signal: bool = False) -> ActionResult | None:
    """Send an action (by its id or an alias) under its id: an update (validated, answered)
    or a fire-and-forget signal."""
    action = _action(name)
    handle = client.get_workflow_handle(workflow_id)
    if as_signal:
        if not action.signal_names:
            raise InvalidInput(f"'{action.id}' can only be sent as an update")
        await handle.signal(actions.signal_name(action.id), message.model_dump(mode="json"))
        return None
    return await handle.execute_update(action.id, message, result_type=ActionResult)


def refusal_of(exc: BaseException) -> Refusal | None:
    """The workflow's refusal inside a failed update: its sentence and the field it concerns."""
    if not isinstance(exc, WorkflowUpdateFailedError):
        return None
    cause = exc.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    if not isinstance(cause, ApplicationError) or cause.type != REJECTED:
        return None
    if cause.details and isinstance(cause.details[0], dict):
        try:
            return Refusal.model_validate(cause.details[0])
        except ValidationError:
            pass
    return Refusal(message=cause.message)  # from a worker older than refusals with fields


async def get_state(client: Client, workflow_id: str) -> CaseState:
    handle = client.get_workflow_handle(workflow_id)
    return await handle.query(DisagreementWorkflow.state)


async def get_timeline(client: Client, workflow_id: str) -> list[TimelineEvent]:
    handle = client.get_workflow_handle(workflow_id)
    return await handle.query(DisagreementWorkflow.timeline)


@dataclass
class CaseListing:
    """One row of `resolutions list`: a case as its search attributes show it (no personal
    data)."""

    workflow_id: str
    protocol: str
    stage: str
    status: str
    urgency: str
    overdue: bool
    next_deadline: datetime | None
    started: datetime | None
    raising_agency: str
    receiving_agency: str
    running: bool


def list_query(protocol: str | None = None, overdue: bool = False,
               include_closed: bool = False) -> str:
    parts = ["WorkflowType = 'DisagreementWorkflow'"]
    if not include_closed:
        parts.append("ExecutionStatus = 'Running'")
    if protocol:
        load_protocol(protocol)  # a clear error for an unknown name
        parts.append(f"CaseProtocol = '{protocol}'")
    if overdue:
        parts.append("CaseOverdue = true")
    return " AND ".join(parts)


async def list_cases(client: Client, query: str, limit: int = 1000) -> list[CaseListing]:
    rows: list[CaseListing] = []
    async for wf in client.list_workflows(query, limit=limit):
        attrs = wf.typed_search_attributes
        rows.append(CaseListing(
            workflow_id=wf.id,
            protocol=attrs.get(sa.CASE_PROTOCOL) or "",
            stage=attrs.get(sa.CASE_STAGE) or "",
            status=attrs.get(sa.CASE_STATUS) or "",
            urgency=attrs.get(sa.CASE_URGENCY) or "",
            overdue=bool(attrs.get(sa.CASE_OVERDUE)),
            next_deadline=attrs.get(sa.CASE_NEXT_DEADLINE),
            started=wf.start_time,
            raising_agency=attrs.get(sa.CASE_RAISING_AGENCY) or "",
            receiving_agency=attrs.get(sa.CASE_RECEIVING_AGENCY) or "",
            running=wf.status is not None and wf.status.name == "RUNNING",
        ))
    return rows
