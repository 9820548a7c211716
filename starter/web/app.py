"""The web application: ``create_app(settings, client)``.

Server-rendered pages that work without JavaScript. GOV.UK Frontend's CSS, JavaScript, fonts
and images come from the npm package in ``starter/web/node_modules`` and are served under
``/assets``; without them the pages fall back to a plain stylesheet.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from infra.links import Links, derive_key, link_secret
from infra.settings import Settings
from starter.web import routes_case, routes_list, routes_protocols, routes_raise
from starter.web.csrf import SESSION_COOKIE, Csrf
from starter.web.deps import WebContext
from starter.web.rendering import PageError, error_page

log = logging.getLogger("resolutions.web")
HERE = Path(__file__).parent
GOVUK_DIST = HERE / "node_modules" / "govuk-frontend" / "dist" / "govuk"
STATIC = HERE / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


HSTS = "max-age=31536000; includeSubDomains"  # a year: once https, always https
MAX_BODY_BYTES = 1_000_000  # a form is a few kilobytes; nothing we take is near a megabyte


class _TooLarge(Exception):
    """The request body passed the limit while it was being read."""


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is refused with a 413 page as it
    arrives (by its Content-Length, or once the bytes streamed pass it), never kept."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen, started = 0, False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except* _TooLarge:  # alone, or grouped by a middleware's task group
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = error_page(request, 413, "What you sent is too large",
                              f"This service takes at most {self.limit // 1_000_000} MB from "
                              "one page, and nothing was recorded from this one. Go back, "
                              "shorten what you wrote, and send it again.")
        response.headers.update(SECURITY_HEADERS)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class GovukAssets(StaticFiles):
    """``/assets/…``: GOV.UK Frontend's fonts and images (``dist/govuk/assets``) and its
    compiled CSS and JavaScript (``dist/govuk``), at the paths its CSS expects."""

    def __init__(self, dist: Path) -> None:
        super().__init__(directory=dist / "assets", check_dir=False)
        self.all_directories = [dist / "assets", dist]


def create_app(settings: Settings, client: Client, *, assets_dir: Path | None = None) -> FastAPI:
    """The FastAPI app serving the forms for one deployment and Temporal client."""
    dist = GOVUK_DIST if assets_dir is None else assets_dir
    assets = (dist / "govuk-frontend.min.css").is_file()
    if not assets:
        log.warning("GOV.UK Frontend is not installed (%s); run "
                    "`npm --prefix starter/web ci --no-audit --no-fund`. Pages use a plain "
                    "stylesheet meanwhile.", dist)
    secret = link_secret(settings)
    # No trailing-slash redirects: Starlette builds them from the request's Host header, so
    # "/t/<link>/" would send the personal link on to whatever host a request names.
    app = FastAPI(title="Professional Resolutions", docs_url=None, redoc_url=None,
                  openapi_url=None, redirect_slashes=False)
    app.state.web = WebContext(
        settings=settings, client=client, links=Links(settings),
        csrf=Csrf(derive_key(secret, "csrf")), flash_key=derive_key(secret, "flash"),
        secure_cookies=settings.public_url.startswith("https://"), assets_available=assets)
    if assets:
        app.mount("/assets", GovukAssets(dist), name="assets")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (routes_list.router, routes_raise.router, routes_case.router,
                   routes_protocols.router):
        app.include_router(router)
    _mount_codec_endpoint(app, settings, client)
    _add_session_middleware(app)
    app.add_middleware(BodyLimit)  # outermost of ours: before anything reads the body
    _add_error_pages(app)
    return app


def _mount_codec_endpoint(app: FastAPI, settings: Settings, client: Client) -> None:
    """/codec: the Temporal Web UI decodes payloads here for someone holding the token."""
    from infra.codec import EncryptionCodec, endpoint_token
    from starter.codec_server import allowed_origins, create_codec_app

    codec = client.data_converter.payload_codec
    if isinstance(codec, EncryptionCodec):
        app.mount("/codec", create_codec_app(codec, endpoint_token(settings),
                                             allowed_origins(settings)))


def _add_session_middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def session(request: Request, call_next) -> Response:  # type: ignore[no-untyped-def]
        ctx: WebContext = request.app.state.web
        sent = ctx.csrf.session_from(request.cookies.get(SESSION_COOKIE))
        sid = sent or ctx.csrf.new_session()
        request.state.cookie_sid = sent  # only what the browser really sent counts for CSRF
        request.state.csrf_token = ctx.csrf.token(sid)
        response = await call_next(request)
        is_asset = request.url.path.startswith(("/assets/", "/static/"))
        if sent is None and not is_asset:
            response.set_cookie(SESSION_COOKIE, ctx.csrf.cookie_value(sid), httponly=True,
                                samesite="lax", secure=ctx.secure_cookies, path="/")
        response.headers.update(SECURITY_HEADERS)
        if ctx.secure_cookies:  # the public URL is https: browsers must never fall back
            response.headers["Strict-Transport-Security"] = HSTS
        if not is_asset:
            response.headers["Cache-Control"] = "no-store"
        return response


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc.status, exc.title, exc.message, exc.hint)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(request, 404, "Page not found",
                              "If you typed the web address, check it is correct. If you "
                              "pasted it, check you copied the entire address.")
        return error_page(request, exc.status_code, "Sorry, this did not work",
                          "The service could not handle that request. Go back and try again.")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return error_page(request, 400, "Sorry, this did not work",
                          "The page address or form was not as expected. Go back and try "
                          "again.")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("web request failed: %s %s", request.method, request.url.path.split(
            "/t/")[0] or "/t/…")
        return error_page(request, 500, "Sorry, there is a problem with the service",
                          "Nothing has been recorded from this page. Try again later.")
