"""Raising cases and acting on them: the one service layer behind the CLI and the web forms."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from infra.settings import Settings, SettingsError, load_settings
from protocols import actions, categories
from protocols.actions import Refusal
from protocols.addresses import check_domain, parse_domains
from protocols.loader import load_protocol
from protocols.messages import (
    FROM_PEOPLE,
    ActionResult,
    Actor,
    CaseDetails,
    CaseInput,
    CaseLimits,
    CaseState,
    Person,
    TimelineEvent,
    Urgency,
)
from protocols.naming import naming_problems
from protocols.oneside import both_sides
from protocols.permissions import PermissionRule, parse_deployment
from protocols.schema import Protocol
from starter import endings
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
    return normalise_id(f"{protocol}-{reference}")


def normalise_id(workflow_id: str) -> str:
    """A case id as it is stored: references are matched without regard to letter case, so
    ``York-2026-0042`` and ``york-2026-0042`` name one case. Every lookup goes through this."""
    return workflow_id.strip().lower()


class CaseExists(InvalidInput):
    """A case with this reference already exists (open or closed) under the protocol."""


# Letters, digits and dashes; at most 20; never five letters in a row (a name, not a number).
DEFAULT_REFERENCE = re.compile(r"(?!.*[a-z]{5})[a-z0-9][a-z0-9-]{0,19}", re.IGNORECASE)


def check_reference(reference: str, settings: Settings) -> None:
    """Refuse a reference the deployment's pattern does not allow, saying why.

    A reference ends up in the workflow id, URLs, e-mail subjects and Temporal's (unencrypted)
    visibility store, so it must be a case number, never a child's name.
    """
    why = "it goes into web addresses and e-mail subjects, so it must be a number, never a name"
    if settings.reference_pattern:
        if not re.fullmatch(settings.reference_pattern, reference, re.IGNORECASE):
            raise InvalidInput(
                f"The case reference '{reference}' is not in the form this service uses "
                f"(RESOLUTIONS_REFERENCE_PATTERN); {why}", {"reference": "not in the form "
                f"this service uses for case references; {why}"})
        return
    problem = ""
    if re.search(r"[a-z]{5}", reference, re.IGNORECASE):
        problem = "has more than 4 letters in a row, which looks like a name"
    elif len(reference) > 20:
        problem = f"is {len(reference)} characters long; the most is 20"
    elif not DEFAULT_REFERENCE.fullmatch(reference):
        problem = "may hold only letters, digits and dashes"
    if problem:
        message = f"{problem}; use a case number such as 2026-0042 or CSC-123456 ({why})"
        raise InvalidInput(f"The case reference '{reference}' {message}",
                           {"reference": f"The case reference {message}"})


def build_case_input(
    protocol_name: str, details: dict[str, Any], urgency: Urgency, actor: Actor,
    *, search_attributes: bool = True, settings: Settings | None = None,
) -> CaseInput:
    """Validate everything a raising form or command gave; clear errors per field."""
    protocol = load_protocol(protocol_name)
    settings = settings or load_settings()
    reference = details.get("reference")
    if isinstance(reference, str) and reference.strip():
        check_reference(reference.strip(), settings)
    try:
        case = CaseDetails.model_validate(details, context=FROM_PEOPLE)
    except ValidationError as exc:
        raise explain_validation(exc) from None
    missing: dict[str, str] = {}
    wrong_category = categories.problem(protocol, case.category)
    if wrong_category:
        raise InvalidInput(wrong_category, {"category": wrong_category})
    if urgency != "immediate-risk":
        for name in protocol.required_case_fields:
            if not getattr(case, name):
                missing[name] = (f"The {protocol.short_name} protocol asks you to state "
                                 f"{FIELD_LABELS[name]} before starting")
    for pre in protocol.preconditions:
        if case.category == pre.applies_to_category and not case.conference_dissent_exhausted:
            missing["conference_dissent_exhausted"] = (
                f"{pre.requirement} first ({pre.source})")
    missing.update(_variant_problems(protocol, case))
    if not case.raising.agency:
        missing["raising.agency"] = "Say which agency is raising the disagreement"
    if not case.receiving.agency:
        missing["receiving.agency"] = "Say which agency the disagreement is with"
    if not case.raising.name:
        missing["raising.name"] = "Give the raising practitioner's name"
    domains = parse_domains(settings.mail_domains)
    for key, person in _people(case):
        try:
            check_domain(person.email, domains)
        except ValueError as exc:
            missing[f"{key}.email"] = str(exc)
    people = _people(case)
    address, crossed = both_sides(protocol, {key.removeprefix("holders."): p
                                             for key, p in people})
    if crossed:  # one person on both sides would settle the disagreement alone
        field = next(k for k, p in reversed(people) if p.email == address)
        missing.setdefault(f"{field}.email", crossed)
    if missing:
        raise InvalidInput("; ".join(missing.values()), missing)
    return CaseInput(protocol=protocol, protocol_hash=protocol.content_hash(), case=case,
                     urgency=urgency, raised_by=actor, search_attributes=search_attributes,
                     permissions=deployment_permissions(settings, protocol.id),
                     mail_domains=domains,
                     limits=CaseLimits(per_minute=settings.case_actions_per_minute,
                                       per_day=settings.case_actions_per_day,
                                       continue_after_events=settings.case_continue_after_events))


def _people(case: CaseDetails) -> list[tuple[str, Person]]:
    """Everyone the case names with the form field their address came from."""
    people: list[tuple[str, Person]] = [("raising", case.raising), ("receiving", case.receiving)]
    return people + [(f"holders.{key}", person) for key, person in case.holders.items()]


def check_named(inp: CaseInput) -> None:
    """Refuse a case whose first actors cannot be told: the people of the stage it starts at
    (named, with an address) and at least one address per side (protocols.naming)."""
    problems = naming_problems(inp.protocol, inp.case, inp.urgency)
    if problems:
        raise InvalidInput("; ".join(problems.values()), problems)


def deployment_permissions(settings: Settings, protocol: str) -> list[PermissionRule]:
    """The deployment's own permission rules for ``protocol`` (RESOLUTIONS_PERMISSIONS)."""
    if not settings.permissions.strip():
        return []
    try:
        return parse_deployment(json.loads(settings.permissions), protocol)
    except (json.JSONDecodeError, ValidationError, ValueError) as exc:
        raise SettingsError(f"RESOLUTIONS_PERMISSIONS cannot be used: {exc}") from None


def _variant_problems(protocol: Protocol, case: CaseDetails) -> dict[str, str]:
    """What is wrong with the kinds of agency the sides say they are (and any legacy
    ``variants``): each routing variant applies to the side whose agency is of its kind."""
    problems: dict[str, str] = {}
    kinds = protocol.side_kinds
    names = ", ".join(sorted(kinds)) or "none"
    for side in ("raising", "receiving"):
        kind = getattr(case, side).kind
        if not kind:
            continue
        variant = kinds.get(kind)
        if variant is None:
            problems[f"{side}.kind"] = (f"'{kind}' is not a kind of agency the "
                                        f"{protocol.short_name} protocol routes differently; "
                                        f"known: {names}")
        elif variant.applies_to_side not in (None, side):
            problems[f"{side}.kind"] = (
                f"{variant.kind_label or kind}: the {protocol.short_name} protocol routes this "
                f"for the {variant.applies_to_side} agency only ({variant.source})")
    by_id = {v.id: v for v in protocol.routing_variants}
    for chosen in case.variants:
        variant = by_id.get(chosen)
        if variant is None:
            problems["variants"] = (f"'{chosen}' is not a routing variant of "
                                    f"{protocol.short_name}; known kinds of agency: {names}")
        elif variant.applies_to_kind:
            problems["variants"] = (
                f"'{chosen}' applies to one side only: say which agency it is with "
                f"--raising-kind {variant.applies_to_kind} or --receiving-kind "
                f"{variant.applies_to_kind} (in a case file, raising.kind or receiving.kind)")
    return problems


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
    purged = _purged_on(settings, wid)
    if purged:
        message = (f"A case with reference {inp.case.reference} already existed for "
                   f"{inp.protocol.short_name} ({wid}, purged {purged[:10]}); give this "
                   f"disagreement its own reference")
        raise CaseExists(message, {"reference": message})
    try:
        # A reference names one case for good: never started again, even once closed.
        return await client.start_workflow(
            DisagreementWorkflow.run, inp, id=wid, task_queue=settings.task_queue,
            search_attributes=attrs, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        message = (f"A case with reference {inp.case.reference} already exists for "
                   f"{inp.protocol.short_name} ({wid}); give this disagreement its own "
                   f"reference")
        raise CaseExists(message, {"reference": message}) from None


def _purged_on(settings: Settings, workflow_id: str) -> str:
    """When the purge log under the data dir says this case was purged ('' if it does not):
    a purged case's reference stays taken, as Temporal itself no longer remembers it."""
    path = Path(settings.data_dir) / "purge-log.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("workflow_id") == workflow_id:
            return str(entry.get("purged_at", ""))
    return ""


def _action(name: str) -> actions.ActionSpec:
    action = actions.find(name)
    if action is None:
        raise InvalidInput(f"there is no action '{name}'")
    return action


def parse_action(name: str, data: dict[str, Any]) -> BaseModel:
    """The message of the action ``name`` (its id or an alias) from what a person gave."""
    try:
        return _action(name).model.model_validate(data, context=FROM_PEOPLE)
    except ValidationError as exc:
        raise explain_validation(exc) from None


def case_handle(client: Client, workflow_id: str, run_id: str = "") -> WorkflowHandle:
    """The case named by ``workflow_id`` (any letter case), at its latest run. With
    ``run_id`` (a personal link's binding: the case's first run) that case only, across the
    runs it continued into: Temporal checks it on updates (first_execution_run_id), and
    reads check it with :func:`same_case`, so a link never reaches another case of the id."""
    return client.get_workflow_handle(normalise_id(workflow_id),
                                      first_execution_run_id=run_id or None)


async def same_case(handle: WorkflowHandle, run_id: str) -> None:
    """Raise NOT_FOUND unless the case's latest run began with ``run_id`` (or is that run)."""
    if not run_id:
        return
    info = (await handle.describe()).raw_description.workflow_execution_info
    if run_id not in (info.first_run_id or info.execution.run_id, info.execution.run_id):
        raise RPCError(f"workflow {handle.id} of this link no longer exists",
                       RPCStatusCode.NOT_FOUND, b"")


async def act(client: Client, workflow_id: str, name: str, message: BaseModel,
              *, as_signal: bool = False, run_id: str = "") -> ActionResult | None:
    """Send an action (by its id or an alias) under its id: an update (validated, answered)
    or a fire-and-forget signal; with ``run_id``, to that run of the case only."""
    action = _action(name)
    handle = case_handle(client, workflow_id, run_id)
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


async def get_state(client: Client, workflow_id: str, run_id: str = "") -> CaseState:
    handle = case_handle(client, workflow_id, run_id)
    await same_case(handle, run_id)
    return await handle.query(DisagreementWorkflow.state)


async def get_case_input(client: Client, workflow_id: str, run_id: str = "") -> CaseInput:
    """What the case was raised with: its details (personal data: never log it) and rules."""
    return await case_handle(client, workflow_id, run_id).query(DisagreementWorkflow.case_input)


async def get_timeline(client: Client, workflow_id: str,
                       run_id: str = "") -> list[TimelineEvent]:
    """The whole timeline: a run that continued as new carries its record forward."""
    handle = case_handle(client, workflow_id, run_id)
    await same_case(handle, run_id)
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
    # A case that continued as new is listed once, by its latest run.
    parts = ["WorkflowType = 'DisagreementWorkflow'", "ExecutionStatus != 'ContinuedAsNew'"]
    if not include_closed:  # open cases, and those ended outside the protocol (never closed)
        parts.append("ExecutionStatus = 'Running'" if overdue
                     else f"(ExecutionStatus = 'Running' OR {endings.ABNORMAL_QUERY})")
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
            # a run ended outside the protocol says so (its own status attribute stops)
            status=endings.label_of(wf.status) or attrs.get(sa.CASE_STATUS) or "",
            urgency=attrs.get(sa.CASE_URGENCY) or "",
            overdue=bool(attrs.get(sa.CASE_OVERDUE)),
            next_deadline=attrs.get(sa.CASE_NEXT_DEADLINE),
            started=wf.start_time,
            raising_agency=attrs.get(sa.CASE_RAISING_AGENCY) or "",
            receiving_agency=attrs.get(sa.CASE_RECEIVING_AGENCY) or "",
            running=wf.status is not None and wf.status.name == "RUNNING",
        ))
    return rows
