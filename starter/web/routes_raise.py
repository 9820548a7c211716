"""Raising a disagreement from a 'raiser' link; the raiser then lands on their own case link."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from temporalio.client import RPCError

from infra.links import Grant
from protocols.caserecord import london
from protocols.loader import ProtocolError, available_protocols, load_protocol
from protocols.messages import CaseState
from protocols.schema import Protocol
from starter import cases
from starter.backdating import preview
from starter.errors import explain
from starter.web import raise_form
from starter.web.csrf import FIELD, CsrfError
from starter.web.deps import csrf_failed, denied, grant_for, log, roles, web
from starter.web.forms import FormState, add_model_errors, read_form
from starter.web.limits import web_limits
from starter.web.rendering import render
from starter.web.roles import Denied, check_raise
from starter.web.routes_case import set_flash

router = APIRouter()


def _raiser(request: Request, token: str) -> Grant:
    grant = grant_for(request, token)
    try:
        check_raise(grant, roles(request))
    except Denied as exc:
        raise denied(exc) from None
    web_limits(request).check_read(token)
    return grant


def _choose(request: Request, token: str, form: FormState, status: int = 200) -> Response:
    options = []
    for name in available_protocols():
        p = load_protocol(name)
        options.append((p.id, p.partnership, f"{p.document}, {p.edition}"))
    return render(request, "raise_choose.html", status=status, form=form,
                  protocol_options=options, base=f"/t/{token}")


def _show(request: Request, token: str, grant: Grant, protocol: Protocol, form: FormState,
          status: int = 200) -> Response:
    return render(request, "raise.html", status=status, form=form, protocol=protocol,
                  base=f"/t/{token}", fixed_protocol=bool(grant.protocol),
                  urgency_options=raise_form.urgency_options(protocol),
                  category_options=raise_form.category_options(protocol),
                  kind_options={side: raise_form.kind_options(protocol, side)
                                for side in ("raising", "receiving")},
                  holder_slots=raise_form.holder_slots(protocol))


def _protocol(name: str) -> Protocol | None:
    """A built-in protocol by name; anything else (a path to a file on the server, which
    load_protocol would read) is no protocol."""
    if name not in available_protocols():
        return None
    try:
        return load_protocol(name)
    except ProtocolError:
        return None


@router.get("/t/{token}/raise", response_class=HTMLResponse)
async def raise_page(request: Request, token: str, protocol: str = "") -> Response:
    grant = _raiser(request, token)
    chosen = _protocol(grant.protocol or protocol)
    if chosen is None:
        form = FormState()
        if protocol:
            form.add("protocol", "Select the partnership whose protocol applies")
        return _choose(request, token, form, 400 if protocol else 200)
    return _show(request, token, grant, chosen, FormState(values=raise_form.defaults(grant)))


@router.post("/t/{token}/raise", response_class=HTMLResponse)
async def raise_submit(request: Request, token: str) -> Response:
    grant = _raiser(request, token)
    web_limits(request).check_raise(token)  # each raise starts a case and sends e-mail
    values = read_form(await request.form(max_files=0, max_fields=200))
    try:
        web(request).csrf.check(request.state.cookie_sid, values.pop(FIELD, None))
    except CsrfError as exc:
        raise csrf_failed(exc) from None
    protocol = _protocol(grant.protocol or str(values.get("protocol", "")))
    if protocol is None:
        form = FormState()
        form.add("protocol", "Select the partnership whose protocol applies")
        return _choose(request, token, form, 400)
    form = FormState(values=values)
    data, urgency = raise_form.case_data(values, form)
    inp = None
    try:
        inp = cases.build_case_input(protocol.id, data, urgency, grant.actor(),  # type: ignore[arg-type]
                                     settings=web(request).settings)
    except cases.InvalidInput as exc:
        add_model_errors(form, raise_form.holder_errors(exc.fields))
    # Every problem in one round: who must be named too, whatever else was missing.
    add_model_errors(form, raise_form.holder_errors(
        raise_form.naming_problems_of(protocol, data, urgency)))
    if form.has_errors or inp is None:
        return _show(request, token, grant, protocol, raise_form.ordered(form), 400)
    confirm = values.pop("confirm_backdated", "")
    if confirm == "change":
        return _show(request, token, grant, protocol, form)
    if inp.case.arose is not None and confirm != "yes":
        backdated = preview(protocol, inp.case.arose, inp.urgency, datetime.now(UTC),
                            web(request).settings)
        if backdated is not None:
            carried = [(k, v) for k, v in values.items() if isinstance(v, str)]
            carried += [(k, x) for k, v in values.items() if isinstance(v, list) for x in v]
            return render(request, "raise_confirm.html", protocol=protocol, preview=backdated,
                          arose=london(inp.case.arose), carried=carried,
                          base=f"/t/{token}")
    client = web(request).client
    try:
        handle = await cases.raise_case(client, web(request).settings, inp)
    except cases.CaseExists as exc:
        form.add("reference", str(exc))
    except RPCError as exc:
        log.warning("raising a case failed: %s", explain(exc))
        form.add(None, "The case could not be started: the case records cannot be reached. "
                       "Try again in a few minutes.")
    if form.has_errors:
        return _show(request, token, grant, protocol, raise_form.ordered(form), 400)
    state = await _first_stage(client, handle.id)
    if inp.case.raising.email.strip().lower() != grant.email.strip().lower():
        # Raised on someone else's behalf: the raising practitioner named holds the case and
        # gets its e-mails; a case link for this raiser would not hold any role on it.
        return render(request, "error.html", title="Disagreement raised",
                      message=f"Case {handle.id} has been raised. The raising practitioner "
                              "named on it is sent its link by email (if an address was "
                              "given; otherwise ask the business unit for one).",
                      hint="Only the people named on a case can open it.")
    personal = dataclasses.replace(grant, role="practitioner", role_key="raising",
                                   workflow_id=handle.id, protocol="",
                                   run_id=handle.first_execution_run_id or handle.result_run_id
                                   or "",
                                   expires=web(request).links.expiry())
    new_token = web(request).links.token(personal)
    response = RedirectResponse(f"/t/{new_token}/cases/{handle.id}", status_code=303)
    message = f"Disagreement raised: case {handle.id}"
    if state is not None:
        message += f", now at stage {state.stage} ({state.stage_name})"
    if inp.urgency == "immediate-risk":
        message += ". The immediate risk alarm has been sent"
    set_flash(request, response, handle.id, message + ".",
              state.expected_next if state else [])
    return response


async def _first_stage(client, workflow_id: str) -> CaseState | None:
    """Give the worker a moment to enter the first stage (its deadlines computed and the
    entry recorded), so the case page shows it."""
    for _ in range(50):
        try:
            timeline = await cases.get_timeline(client, workflow_id)
            if any(e.kind == "stage_entered" for e in timeline):
                return await cases.get_state(client, workflow_id)
        except RPCError:
            pass
        await asyncio.sleep(0.1)
    return None
