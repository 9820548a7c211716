"""Temporal remote codec server, so the Web UI and CLI can show decrypted payloads.

Implements the codec server protocol: ``POST /encode`` and ``POST /decode`` (also
under a ``/{namespace}/`` prefix for ``--codec-endpoint`` templating), each taking
and returning ``{"payloads": [...]}`` in proto3 JSON form (metadata values and data
are base64). Requests must carry ``Authorization: Bearer <token>`` (the token:
:func:`infra.codec.endpoint_token`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from temporalio.api.common.v1 import Payload, Payloads

from infra.codec import EncryptionCodec

__all__ = ["DEFAULT_ALLOWED_ORIGINS", "create_codec_app"]

DEFAULT_ALLOWED_ORIGINS = ["http://localhost:8233"]

_Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _authorized(header: str | None, token: bytes) -> bool:
    """Constant-time check of an ``Authorization: Bearer <token>`` header."""
    scheme, _, presented = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode("utf-8"), token)


def create_codec_app(
    codec: EncryptionCodec,
    token: str,
    allowed_origins: list[str] | None = None,
) -> FastAPI:
    """Build the codec server app.

    ``token`` is the shared bearer secret; ``allowed_origins`` are the browser
    origins (the Temporal Web UI) allowed to call it, default
    ``http://localhost:8233``.
    """
    if not token:
        raise ValueError("codec server token must not be empty")
    expected = token.encode("utf-8")
    origins = DEFAULT_ALLOWED_ORIGINS if allowed_origins is None else list(allowed_origins)

    app = FastAPI(
        title="Professional Resolutions codec server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # No trailing-slash redirects: Starlette builds them from the Host header, which would
        # send "/codec/t/<token>/decode/" (and so the token) on to any host a request names.
        redirect_slashes=False,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        max_age=600,
    )

    async def run(request: Request, transform: _Transform) -> JSONResponse:
        in_path = request.path_params.get("token")
        if in_path is not None:
            allowed = hmac.compare_digest(str(in_path).encode("utf-8"), expected)
        else:
            allowed = _authorized(request.headers.get("authorization"), expected)
        if not allowed:
            return _error(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body must be JSON")
        if not isinstance(body, dict):
            return _error(400, 'request body must be {"payloads": [...]}')
        payloads = Payloads()
        try:
            ParseDict(body, payloads)
        except ParseError as exc:
            return _error(400, f"invalid payloads: {exc}")
        try:
            result = await transform(payloads.payloads)
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse({"payloads": [MessageToDict(p) for p in result]})

    async def encode(request: Request) -> JSONResponse:
        """Encrypt payloads with the active key."""
        return await run(request, codec.encode)

    async def decode(request: Request) -> JSONResponse:
        """Decrypt payloads; non-encrypted payloads are returned unchanged."""
        return await run(request, codec.decode)

    # "/t/<token>/…" carries the token in the path, for the Temporal Web UI, which cannot add
    # a bearer header of its own in a deployment without single sign-on.
    for prefix in ("", "/{namespace}", "/t/{token}"):
        app.add_api_route(f"{prefix}/encode", encode, methods=["POST"], include_in_schema=False)
        app.add_api_route(f"{prefix}/decode", decode, methods=["POST"], include_in_schema=False)
    return app


def allowed_origins(settings) -> list[str]:
    if settings.codec_allowed_origins:
        return list(settings.codec_allowed_origins)
    port = settings.dev_server_ui_port
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
