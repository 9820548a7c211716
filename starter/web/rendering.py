"""Jinja2 pages (autoescaped), London-time filters, and the clear error pages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from starter.timefmt import london
from starter.web.csrf import FIELD
from starter.web.forms import FormState, field_id

TEMPLATES = Path(__file__).parent / "templates"
SERVICE_NAME = "Professional Resolutions"


class PageError(Exception):
    """Stop and show a GOV.UK-style error page with this status, heading and explanation."""

    def __init__(self, status: int, title: str, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.hint = status, title, message, hint


def _date(moment: datetime | int | None) -> str:
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return london(moment, "%a %d %b %Y")


def _humanise(value: str) -> str:
    return value.replace("_", " ").replace("-", " ").capitalize()


def _role_phrase(key: str) -> str:
    """A link's role in words, for the banner: 'raising agency', 'stage 2, receiving agency'."""
    stage, _, slot = key.rpartition(".")
    side = {"raising": "raising agency", "receiving": "receiving agency"}.get(slot)
    if side is None:
        return _humanise(key)
    return f"stage {stage}, {side}" if stage else side


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every value is escaped unless a template says otherwise
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(london=london, day=_date, humanise=_humanise, field_id=field_id,
                       role_phrase=_role_phrase)
    env.globals.update(service_name=SERVICE_NAME, csrf_field=FIELD)
    return env


ENV = build_environment()


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the session's CSRF token and the link's holder in its context."""
    context.setdefault("form", FormState())
    context.setdefault("grant", getattr(request.state, "grant", None))
    context.setdefault("flash", None)
    context.setdefault("base", "")
    context["csrf_token"] = getattr(request.state, "csrf_token", "")
    web = getattr(request.app.state, "web", None)
    context["assets_available"] = bool(web and web.assets_available)
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, title: str, message: str,
               hint: str = "") -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, message=message,
                  hint=hint, grant=None)
