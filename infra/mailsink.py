"""A local SMTP server for the embedded setup: files every message under ``data_dir/mail``.

It listens on loopback only, and every file it writes (``.eml`` and the index) is 0600.

:class:`SmtpSink` receives mail instead of delivering it (nothing leaves the machine);
:func:`list_mail` and :func:`read_mail` read the store back for `resolutions mail`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import hashlib
import json
import logging
import re
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from aiosmtpd.controller import Controller
from pydantic import BaseModel, ValidationError

from infra.devserver import EmbeddedServiceError
from infra.secrets import open_private
from infra.smtp import is_loopback

if TYPE_CHECKING:
    from infra.settings import Settings

log = logging.getLogger(__name__)

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
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = self.directory / f"{stem}.eml"
            counter = 1
            while path.exists():
                path = self.directory / f"{stem}-{counter}.eml"
                counter += 1
            # Mail holds names and live personal links: owner only from the first byte.
            with open_private(path, "wb") as out:
                out.write(content)
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
            with open_private(self.directory / _INDEX, "a") as index:
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
        if not is_loopback(self.host):
            raise EmbeddedServiceError(
                f"the SMTP sink listens on this machine's loopback only, not {self.host}: set "
                f"RESOLUTIONS_SMTP_HOST=127.0.0.1 (or turn the sink off with "
                f"RESOLUTIONS_RUN_SMTP_SINK=false to use a real mail server)")
        self.mail_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
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
