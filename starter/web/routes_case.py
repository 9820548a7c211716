"""The case page and its action forms: each form is one workflow update."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from temporalio.client import RPCError, WorkflowUpdateFailedError

from infra.contacts import contact_address
from infra.links import Grant
from protocols import choices
from protocols.caserecord import due_text
from protocols.messages import CONTACT_METHODS, CaseDetails, CaseState, DeadlineState, TimelineEvent
from protocols.schema import Protocol
from starter import cases, endings
from starter.errors import explain
from starter.web import flash as flashes
from starter.web import plain
from starter.web.actions import ACTIONS, Action, by_slug, ordered
from starter.web.csrf import FIELD, CsrfError
from starter.web.deps import (
    check_workflow_id,
    csrf_failed,
    denied,
    grant_for,
    protocol_or_none,
    roles,
    temporal,
    web,
    withdrawn,
)
from starter.web.forms import FormState, add_model_errors, read_form
from starter.web.limits import web_limits
from starter.web.rendering import PageError, render
from starter.web.roles import Access, Denied, case_access, check_case, still_holds
from starter.wording import londonise

router = APIRouter()
UPDATE_TIMEOUT = 30.0


def _run(request: Request) -> str:
    """The case run the link is bound to ('' for list links and links made before binding):
    every read and action goes to that run only, so an old link never opens another case."""
    return request.state.grant.run_id


def _authorise(request: Request, grant: Grant, workflow_id: str, *, act: bool) -> None:
    needs_roles = not grant.workflow_id
    try:
        check_case(grant, workflow_id, roles(request) if needs_roles else {}, act=act)
    except Denied as exc:
        raise denied(exc) from None


async def _access(request: Request, state: CaseState,
                  timeline: list[TimelineEvent] | None = None) -> Access:
    """The link against the case's current holders (and, for a partnership contact's link,
    the contact's address and the roles file), on every request; a clear page once gone."""
    grant: Grant = request.state.grant
    settings = web(request).settings
    contact, standing = "", None
    if grant.workflow_id and grant.role_key.startswith("contact:"):
        protocol = protocol_or_none(state.protocol)
        contact_id = grant.role_key.removeprefix("contact:")
        contact = contact_address(protocol, contact_id, settings) if protocol else ""
        standing = roles(request)
    if timeline is None and grant.workflow_id and still_holds(grant, state.holders):
        timeline = await temporal(cases.get_timeline(web(request).client, state.workflow_id,
                                                     _run(request)))
    try:
        return case_access(grant, state.holders, timeline, datetime.now(UTC),
                           timedelta(hours=settings.handover_grace_hours), contact, standing)
    except Denied as exc:
        raise withdrawn(exc) from None


async def _may_act(request: Request, state: CaseState) -> None:
    access = await _access(request, state)
    if not access.act:
        raise PageError(403, "You cannot do this with your link", access.reason or
                        "Your link lets you read this case but not change it.")
    ended = await temporal(endings.ending(web(request).client, state.workflow_id,
                                          _run(request)))
    if ended is not None:
        raise PageError(409, f"This case was {ended.label}", ended.sentence())


@router.get("/t/{token}")
async def entry(request: Request, token: str) -> Response:
    """Where a personal link lands: its case, the list, or the raising form."""
    grant = grant_for(request, token)
    if grant.workflow_id:
        target = f"/t/{token}/cases/{grant.workflow_id}"
    elif grant.role == "raiser":
        target = f"/t/{token}/raise"
    else:
        target = f"/t/{token}/cases"
    return RedirectResponse(target, status_code=303)


def _rule_kinds(protocol: Protocol | None, stage_id: str) -> dict[str, str]:
    if protocol is None:
        return {}
    try:
        return {r.id: r.timescale.kind for r in protocol.stage(stage_id).deadlines}
    except KeyError:
        return {}


def agreeable(state: CaseState, protocol: Protocol | None) -> list[DeadlineState]:
    kinds = _rule_kinds(protocol, state.stage)
    return [d for d in state.deadlines if d.kind == "stage" and d.stage == state.stage and d.live
            and kinds.get(d.rule) == "agreed"]


def awaited_duties(state: CaseState) -> list[DeadlineState]:
    return [d for d in state.deadlines if d.kind == "duty" and d.live]


def awaits_confirmation(state: CaseState, protocol: Protocol | None) -> bool:
    """Whether a written confirmation is awaited: the case may be closed without it."""
    if protocol is None or state.status != "resolved":
        return False
    kinds = {x.id: x.kind for x in [*protocol.post_resolution,
                                    *(d for s in protocol.stages for d in s.on_resolution)]}
    return any(kinds.get(d.rule) == "written_confirmation" for d in awaited_duties(state))


def markable(state: CaseState) -> list[DeadlineState]:
    """Live deadlines that remind rather than escalate: steps that can be marked done."""
    return [d for d in state.deadlines
            if d.kind == "stage" and d.on_expiry != "escalate" and d.live]


def available_actions(state: CaseState, protocol: Protocol | None) -> list[tuple[str, str]]:
    """The actions that make sense now (the workflow's validators still have the last word)."""
    ids: list[str] = []
    steps = ["mark_step_done"] if markable(state) else []
    if state.status == "open":
        ids = ["record_outcome", "record_discussion", *steps]
        if agreeable(state, protocol):
            ids.append("agree_timescale")
        if protocol is None or protocol.bypass.allowed:
            ids.append("bypass")
        if protocol is not None and protocol.referrals_from(state.stage):
            ids.append("refer")
        # Only where the document provides halting (Leeds s3 Stage 4 para 2).
        if protocol is None or protocol.halting is None or protocol.halting.allowed:
            ids.append("pause")
        ids += ["assign", "report_immediate_risk", "withdraw"]
    elif state.status == "paused":
        ids = ["resume", "record_discussion", *steps, "assign", "report_immediate_risk",
               "withdraw"]
    elif state.status == "resolved":
        ids = (["confirm_in_writing"] if awaited_duties(state) else []) + (
            ["close_unconfirmed"] if awaits_confirmation(state, protocol) else []) + [
            "record_discussion", "assign", "report_immediate_risk", "withdraw"]
    return [(ACTIONS[i].slug, ACTIONS[i].title) for i in ids]


@router.get("/t/{token}/cases/{workflow_id}", response_class=HTMLResponse)
async def case_page(request: Request, token: str, workflow_id: str) -> Response:
    grant = grant_for(request, token)
    check_workflow_id(workflow_id)
    _authorise(request, grant, workflow_id, act=False)
    web_limits(request).check_read(token)
    client = web(request).client
    state = await temporal(cases.get_state(client, workflow_id, _run(request)))
    timeline = await temporal(cases.get_timeline(client, workflow_id, _run(request)))
    protocol = protocol_or_none(state.protocol)
    stage = None
    if protocol is not None and state.stages_visited:
        stage = next((s for s in protocol.ladder(inp_category(protocol, state))
                      if s.id == state.stage), None)
    flash = flashes.unpack(web(request).flash_key, request.cookies.get(flashes.FLASH_COOKIE))
    if flash and flash.get("wid") != workflow_id:
        flash = None
    access = await _access(request, state, timeline)
    ended = await temporal(endings.ending(client, workflow_id, _run(request)))
    closed = state.status in ("closed", "withdrawn")
    reason = (ended.sentence() if ended else
              "This case is closed; nothing more can be recorded on it." if closed else
              access.reason or "Your link lets you read this case. Only the practitioners and "
              "managers named on the case can record what happens.")
    # What the disagreement is about: for the people named on the case (a case-bound link)
    # and the business unit; never the child's details (SECURITY.md).
    inp = await temporal(cases.get_case_input(client, workflow_id, _run(request)))
    case = inp.case
    shows_case = bool(grant.workflow_id) or grant.role == "business_unit"
    must_act = sorted((d for d in state.deadlines if d.live),
                      key=lambda d: (d.due is None, d.due or d.clock_start))
    response = render(
        request, "case.html", state=state, timeline=timeline, protocol=protocol, stage=stage,
        stage_known=bool(state.stages_visited), must_act=must_act, due_text=due_text,
        contact_methods=CONTACT_METHODS,
        about=plain.about(case) if shows_case else None,
        people=plain.people(protocol, case, {"raising": case.raising.person(),
                                             "receiving": case.receiving.person(),
                                             **state.holders}),
        role_label=lambda key: plain.role_label(protocol, case, key),
        expiry_text=plain.expiry_text, event_text=plain.event_text,
        actions=available_actions(state, protocol) if access.act and not ended else [],
        ended=ended,
        read_only_reason=reason, flash=flash, case_url=f"/t/{token}/cases/{workflow_id}",
        back_url="" if grant.workflow_id else f"/t/{token}/cases",
        rules_changed=bool(protocol and protocol.content_hash() != state.protocol_hash))
    if request.cookies.get(flashes.FLASH_COOKIE):
        response.delete_cookie(flashes.FLASH_COOKIE, path="/")
    return response


# -- action forms ---------------------------------------------------------------------------------
def _action(slug: str) -> Action:
    action = by_slug(slug)
    if action is None:
        raise PageError(404, "Page not found", "There is no such form for a case.")
    return action


def inp_category(protocol: Protocol, state: CaseState) -> str:
    """The category whose first steps the case took, if it took them ('' if not)."""
    return next((c.id for c in map(protocol.category_of_stage, state.stages_visited) if c), "")


def _offer(found: list[choices.Choice]) -> list[tuple[str, str, str]]:
    return [(c.value, c.label, c.hint) for c in found]


def _form_context(state: CaseState, protocol: Protocol | None,
                  case: CaseDetails | None = None) -> dict[str, Any]:
    """The choices each form offers: only those valid for the case where it stands
    (protocols.choices); the workflow's validators still have the last word."""
    # A category's first steps (Leeds Appendix 1, Barnsley 3.8) come before stage 1.
    category = protocol.category(inp_category(protocol, state)) if protocol else None
    stages = protocol.ladder(category.id if category else "") if protocol else []
    role_options: list[tuple[str, str]] = [("", "Choose a role")]
    role_options += ([(c.value, c.label) for c in choices.roles(protocol, case, state)]
                     if protocol else [])
    deadlines = agreeable(state, protocol)
    return {
        "stage_options": _offer(choices.outcome_stages(protocol, state)) if protocol else [],
        "outcome_options": _offer(choices.outcomes(protocol, state)) if protocol else [],
        "later_stage_options": _offer(choices.bypass_stages(protocol, state)) if protocol
        else [],
        "agreement_options": [(g, f"The {g} involved agreed", "")
                              for g in (protocol.bypass.requires_agreement_of if protocol
                                        else [])],
        "role_options": role_options,
        "contact_method_options": [(key, label, "") for key, label in CONTACT_METHODS.items()]
        + [("", "Not recorded", "")],
        "agreeable": deadlines,
        "deadline_options": [("", "The stage's main deadline")] + [(d.rule, d.what)
                                                                  for d in deadlines],
        "duty_options": [(d.rule, d.what, f"{d.who}, {due_text(d)}")
                         for d in awaited_duties(state)],
        "visited_stage_options": [(s.id, f"Stage {s.id}: {s.name}",
                                   "The current stage" if s.id == state.stage else "")
                                  for s in stages if s.id in state.stages_visited],
        "step_options": [(d.key, f"Stage {d.stage}: {d.what}", f"{d.who}, {due_text(d)}")
                         for d in markable(state)],
        "referral_options": [(r.id, r.label, f"{r.reason} ({r.source})")
                             for r in (protocol.referrals_from(state.stage) if protocol else [])],
        "first_steps": category if category and category.first_steps
        and state.stage == category.first_steps.id else None,
        "refer_options": [("yes", "Refer the case", ""),
                          ("no", "Do not refer: the case closes, recording why",
                           "Only where 'not resolved' at this stage offered the decision")],
    }


def _defaults(action: Action, state: CaseState) -> dict[str, Any]:
    if action.name in ("record_outcome", "agree_timescale", "record_discussion"):
        return {"stage": state.stage}
    if action.name == "mark_step_done":
        steps = markable(state)
        return {"deadline": steps[0].key} if len(steps) == 1 else {}
    if action.name == "refer":
        return {"refer": "yes", **({"referral": state.open_referral} if state.open_referral
                                   else {})}
    if action.name == "confirm_in_writing":
        duties = awaited_duties(state)
        return {"duty": duties[0].rule} if len(duties) == 1 else {}
    return {}


async def _show_form(request: Request, token: str, workflow_id: str, action: Action,
                     form: FormState | None, status: int = 200) -> Response:
    state = await temporal(cases.get_state(web(request).client, workflow_id, _run(request)))
    await _may_act(request, state)
    protocol = protocol_or_none(state.protocol)
    if form is None:
        form = FormState(values=_defaults(action, state))
    # The choices come from the rules the case was raised with.
    inp = await temporal(cases.get_case_input(web(request).client, workflow_id, _run(request)))
    return render(request, "action.html", status=status, action=action, state=state,
                  protocol=protocol, form=form, case_url=f"/t/{token}/cases/{workflow_id}",
                  **_form_context(state, inp.protocol, inp.case))


@router.get("/t/{token}/cases/{workflow_id}/{slug}", response_class=HTMLResponse)
async def action_form(request: Request, token: str, workflow_id: str, slug: str) -> Response:
    grant = grant_for(request, token)
    check_workflow_id(workflow_id)
    action = _action(slug)
    _authorise(request, grant, workflow_id, act=True)
    web_limits(request).check_read(token)
    return await _show_form(request, token, workflow_id, action, None)


@router.post("/t/{token}/cases/{workflow_id}/{slug}", response_class=HTMLResponse)
async def submit_action(request: Request, token: str, workflow_id: str, slug: str) -> Response:
    grant = grant_for(request, token)
    check_workflow_id(workflow_id)
    action = _action(slug)
    _authorise(request, grant, workflow_id, act=True)
    web_limits(request).check_action(token, workflow_id)  # per link and per case
    state = await temporal(cases.get_state(web(request).client, workflow_id, _run(request)))
    await _may_act(request, state)
    values = read_form(await request.form(max_files=0, max_fields=200))
    try:
        web(request).csrf.check(request.state.cookie_sid, values.pop(FIELD, None))
    except CsrfError as exc:
        raise csrf_failed(exc) from None
    form = FormState(values=values)
    data = action.read(values, form)
    # Only the choices valid where the case stands, reported with the form's other errors.
    inp = await temporal(cases.get_case_input(web(request).client, workflow_id, _run(request)))
    for name, problem in choices.wrong(action.name, data, inp.protocol, inp.case,
                                       state).items():
        form.add(name, problem)
    # Who acts comes from the link, never the form: the person and the role key they hold,
    # which the workflow matches against the case's holders (protocols.permissions).
    data["by"] = grant.actor().model_dump() | {"role_key": grant.role_key}
    message = None
    try:
        message = cases.parse_action(action.name, data)
    except cases.InvalidInput as exc:
        add_model_errors(form, exc.fields)
    if form.has_errors or message is None:
        return await _show_form(request, token, workflow_id, action, ordered(form, action), 400)
    result = None
    try:
        result = await asyncio.wait_for(
            cases.act(web(request).client, workflow_id, action.name, message,
                      run_id=_run(request)),
            timeout=UPDATE_TIMEOUT)
    except WorkflowUpdateFailedError as exc:
        refusal = cases.refusal_of(exc)
        if refusal is None:
            form.add(None, explain(exc))
        else:
            form.add(action.field_for(refusal), londonise(refusal.message))
    except RPCError as exc:
        form.add(None, explain(exc)[:1].upper() + explain(exc)[1:])
    except TimeoutError:
        form.add(None, "The case did not answer in time, so this may not have been recorded. "
                       "Check the case page before trying again.")
    if form.has_errors or result is None:
        return await _show_form(request, token, workflow_id, action, ordered(form, action), 400)
    response = RedirectResponse(f"/t/{token}/cases/{workflow_id}", status_code=303)
    set_flash(request, response, workflow_id, londonise(result.message),
              result.position.expected_next)
    return response


def set_flash(request: Request, response: Response, workflow_id: str, message: str,
              next_steps: list[str]) -> None:
    value = flashes.pack(web(request).flash_key,
                         {"wid": workflow_id, "message": message, "next": next_steps})
    response.set_cookie(flashes.FLASH_COOKIE, value, max_age=flashes.MAX_AGE, path="/",
                        httponly=True, samesite="lax", secure=web(request).secure_cookies)
