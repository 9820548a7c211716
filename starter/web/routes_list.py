"""The partnership's list of open and overdue cases (business unit, auditor), and the home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from protocols.loader import available_protocols, load_protocol
from starter import cases
from starter.web.deps import denied, grant_for, roles, temporal, web
from starter.web.forms import FormState
from starter.web.rendering import render
from starter.web.roles import Denied, check_list

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    return render(request, "home.html")


@router.get("/favicon.ico")
async def favicon() -> Response:
    return Response(status_code=204)


@router.get("/t/{token}/cases", response_class=HTMLResponse)
async def case_list(request: Request, token: str, protocol: str = "") -> Response:
    grant = grant_for(request, token)
    try:
        check_list(grant, roles(request))
    except Denied as exc:
        raise denied(exc) from None
    known = available_protocols()
    chosen = grant.protocol or (protocol if protocol in known else "")
    query = cases.list_query(chosen or None)
    rows = await temporal(cases.list_cases(web(request).client, query))
    rows.sort(key=lambda r: (r.next_deadline is None,
                             r.next_deadline.timestamp() if r.next_deadline else 0.0))
    options: list[tuple[str, str]] = []
    if not grant.protocol:  # an auditor may look at every partnership
        options = [("", "All partnerships")] + [(n, load_protocol(n).partnership)
                                                for n in known]
    label = load_protocol(chosen).partnership if chosen else "All partnerships"
    return render(request, "list.html", rows=rows, overdue=[r for r in rows if r.overdue],
                  scope_label=label, protocol_options=options, base=f"/t/{token}",
                  form=FormState(values={"protocol": chosen}))
