"""The one-machine stack `./dev start` runs: dev server, mail sink, worker and web forms.

    python -m starter.devstack [--no-web] [-v]      # or: resolutions worker, ./dev start

It is ``worker.py`` (embedded services when no cluster is configured, then the worker) with the
web forms served beside it from the same process and client. ``python worker.py`` is the worker
alone; ``resolutions web`` serves the forms alone against a worker that runs elsewhere.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from temporalio.client import Client

import worker
from infra.settings import Settings, load_settings

log = logging.getLogger("resolutions.devstack")


async def start_web(settings: Settings, client: Client,
                    stack: contextlib.AsyncExitStack) -> None:
    """Serve the web forms (and the Web UI's codec endpoint) until the stack closes."""
    if settings.web_port == 0:
        return
    from starter.web.server import start_web_server

    stop_web = await start_web_server(settings, client)
    stack.push_async_callback(stop_web)
    log.info("Web forms on %s", settings.public_url)
    if settings.embedded:
        announce_codec_endpoint(settings)


CODEC_ENDPOINT_FILE = "codec-endpoint.txt"


def announce_codec_endpoint(settings: Settings) -> Path:
    """Hand the Temporal Web UI's codec endpoint (its URL holds the token) to this user only.

    It is written 0600 to ``<data_dir>/codec-endpoint.txt`` and printed to this terminal
    the first time (and whenever it changes), never put on a command line or in the dev
    server's UI settings, which any local user could read. Paste it into the UI's codec
    settings (the UI keeps it in your browser).
    """
    from infra.codec import ui_endpoint
    from infra.secrets import write_secret

    path = Path(settings.data_dir) / CODEC_ENDPOINT_FILE
    url = ui_endpoint(settings)
    try:
        known = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        known = ""
    if known != url:
        write_secret(path, url + "\n")
        print(f"\nTo read cases in the Temporal Web UI ({_ui_url(settings)}), open its "
              f"codec settings (Data Encoder) and paste this endpoint; keep it to yourself, "
              f"it decrypts every case:\n\n    {url}\n\n(also in {path}, readable by you "
              f"only)\n", file=sys.stderr, flush=True)
    else:
        log.info("Codec endpoint for the Temporal Web UI: in %s (readable by you only)", path)
    return path


def _ui_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.dev_server_ui_port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m starter.devstack",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-web", action="store_true", help="do not serve the web forms")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.no_web:
        settings = settings.model_copy(update={"web_port": 0})
    return worker.run(settings, verbose=args.verbose, extras=[start_web])


if __name__ == "__main__":
    # Leave without interpreter finalisation, which the SDK's runtime threads can abort.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
