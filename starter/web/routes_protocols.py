"""The protocols' flow charts: ``/protocols`` (the list), ``/protocols/NAME`` (a page per
protocol) and ``/protocols/NAME.svg`` (the image alone). The rules are the partnerships'
published documents, not personal data, so these pages need no link."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from protocols.diagram import protocol_svg
from protocols.loader import available_protocols, load_protocol
from protocols.messages import CaseState, TimelineEvent
from protocols.schema import Protocol
from starter.web.rendering import ENV, PageError, render

router = APIRouter()


def _protocol(name: str) -> Protocol:
    if name not in available_protocols():
        raise PageError(404, "Protocol not found",
                        "There is no protocol by that name. The list of protocols shows "
                        "every partnership's.")
    return load_protocol(name)


def path_taken(state: CaseState, timeline: list[TimelineEvent]) -> list[str]:
    """The stages the case entered, in order, from its timeline (its state's list if the
    timeline holds none)."""
    entered = [e.stage for e in timeline if e.kind == "stage_entered" and e.stage]
    return entered or list(state.stages_visited)


def case_diagram(protocol: Protocol | None, state: CaseState,
                 timeline: list[TimelineEvent]) -> Markup:
    """The case's protocol drawn with its path and "You are here" (empty without a protocol)."""
    if protocol is None:
        return Markup("")
    current = state.stage if state.status not in ("closed", "withdrawn") else None
    return Markup(protocol_svg(protocol, visited=path_taken(state, timeline), current=current,
                               id_prefix="case-diagram"))


ENV.globals["case_diagram"] = case_diagram


@router.get("/protocols", response_class=HTMLResponse)
async def protocol_list(request: Request) -> Response:
    return render(request, "protocols.html",
                  protocols=[load_protocol(n) for n in available_protocols()])


@router.get("/protocols/{name}.svg")
async def protocol_image(name: str) -> Response:
    return Response(protocol_svg(_protocol(name)), media_type="image/svg+xml")


@router.get("/protocols/{name}", response_class=HTMLResponse)
async def protocol_page(request: Request, name: str) -> Response:
    protocol = _protocol(name)
    return render(request, "protocol.html", protocol=protocol,
                  diagram=Markup(protocol_svg(protocol, id_prefix="protocol-diagram")))
