"""What every route needs: the app's shared pieces, the link's grant, and Temporal calls that
turn failures into clear pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from temporalio.client import Client, RPCError, WorkflowQueryFailedError
from temporalio.service import RPCStatusCode

from infra.links import Grant, LinkError, Links
from infra.settings import Settings
from protocols.loader import ProtocolError, load_protocol
from protocols.schema import Protocol
from starter.errors import explain
from starter.web.csrf import Csrf, CsrfError
from starter.web.rendering import PageError
from starter.web.roles import Denied, RolesError, StandingRole, load_roles

log = logging.getLogger("resolutions.web")
T = TypeVar("T")
WORKFLOW_ID = re.compile(r"^[a-z0-9_-]{1,40}-[a-z0-9-]{3,41}$")


@dataclass
class WebContext:
    settings: Settings
    client: Client
    links: Links
    csrf: Csrf
    flash_key: bytes
    secure_cookies: bool
    assets_available: bool


def web(request: Request) -> WebContext:
    return request.app.state.web


def grant_for(request: Request, token: str) -> Grant:
    """The grant of the link in the URL, or a clear 403/410 page."""
    try:
        grant = web(request).links.read(token)
    except LinkError as exc:
        if exc.kind == "retired":
            raise PageError(
                410, "This link is no longer accepted",
                "It is an older kind of link, which this service stopped accepting on "
                f"{web(request).settings.legacy_links_until:%d %B %Y} so that links sent "
                "long ago cannot be used any more.",
                hint="Use the link in the most recent email about the case, or ask the "
                     "partnership's business unit for a new one.") from None
        if exc.kind == "expired":
            raise PageError(
                410, "This link has expired",
                "Personal links to this service work for a limited time, and this one has "
                "run out.",
                hint="Use the link in the most recent email about the case, or ask the "
                     "partnership's business unit for a new one.") from None
        raise PageError(
            403, "This link is not valid",
            "The link may have been copied incorrectly or changed after it was sent.",
            hint="Copy the whole link from the email and try again. If it still does not "
                 "work, ask the partnership's business unit for a new one.") from None
    request.state.grant = grant
    request.state.base = f"/t/{token}"
    return grant


def roles(request: Request) -> dict[str, StandingRole]:
    try:
        return load_roles(web(request).settings)
    except RolesError as exc:
        log.error("cannot read standing roles: %s", exc)
        raise PageError(503, "Sorry, there is a problem with the service",
                        "The service's access settings cannot be read. Try again later; "
                        "the administrator has been told.") from None


def denied(exc: Denied) -> PageError:
    return PageError(403, "You cannot do this with your link", str(exc))


def withdrawn(exc: Denied) -> PageError:
    """A link whose access has been taken back (roles file, hand-over)."""
    return PageError(403, "Your access through this link has been withdrawn", str(exc))


def csrf_failed(exc: CsrfError) -> PageError:
    return PageError(403, "Your form could not be accepted", str(exc))


def check_workflow_id(workflow_id: str) -> str:
    if not WORKFLOW_ID.fullmatch(workflow_id):
        raise PageError(404, "Page not found", "There is no case at this address.")
    return workflow_id


async def temporal(call: Awaitable[T]) -> T:
    """Await a Temporal call; a missing case or an unreachable server becomes a clear page."""
    try:
        return await call
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise PageError(404, "Case not found", "There is no such case. Check the link "
                            "you were sent.") from None
        log.warning("Temporal call failed: %s", explain(exc))
        raise _unavailable() from None
    except (WorkflowQueryFailedError, RuntimeError, ConnectionError) as exc:
        log.warning("Temporal call failed: %s", explain(exc))
        raise _unavailable() from None


def _unavailable() -> PageError:
    return PageError(503, "Sorry, the case records are not available just now",
                     "The service cannot reach the case records. Try again in a few minutes.")


def protocol_or_none(name: str) -> Protocol | None:
    try:
        return load_protocol(name)
    except ProtocolError:
        return None
