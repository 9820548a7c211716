"""Serving the web forms inside a running asyncio loop (the worker's, or `resolutions web`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from temporalio.client import Client

from infra.settings import Settings
from starter.web.app import create_app

log = logging.getLogger("resolutions.web")
Stop = Callable[[], Awaitable[None]]


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (the worker's Ctrl-C)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    """Bind here, so a port in use is a clear error rather than uvicorn's sys.exit."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
    except OSError as exc:
        raise OSError(f"cannot serve the web forms on {host}:{port}: {exc.strerror or exc} "
                      f"(set RESOLUTIONS_WEB_PORT, or 0 to turn the web forms off)") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def start_web_server(settings: Settings, client: Client) -> Stop:
    """Start serving ``create_app`` on ``settings.web_host:web_port``; returns ``stop()``."""
    app = create_app(settings, client)
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                            server_header=False, proxy_headers=False)
    server = _EmbeddedServer(config)
    sock = _bind(settings.web_host, settings.web_port)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="web-forms")
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # raises what stopped it
            raise RuntimeError("the web server stopped while starting")
        await asyncio.sleep(0.02)
    log.info("web forms listening on %s:%s (public address %s)", settings.web_host,
             settings.web_port, settings.public_url)

    async def stop() -> None:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
        except TimeoutError:
            server.force_exit = True
            await task
        finally:
            sock.close()

    return stop
