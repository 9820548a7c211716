"""The MIME message: headers, bodies, and the forms and calendar entries attached.

The Message-ID is derived from the workflow id and event key, so a retried activity sends a
recognisably identical message, and every e-mail of a case refers to one thread id.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from pathlib import Path

from activities.ics import CalendarEvent, deadline_uid, render_calendar
from activities.mail.addressing import Addressees
from activities.mail.content import calendar_deadlines, one_line, tag
from infra.settings import Settings
from protocols.caserecord import form_filename
from protocols.forms import render_case_form
from protocols.messages import DeadlineState, NotificationRequest, Person

MAIL_DOMAIN = "professional-resolutions"
Attachment = tuple[str, str, bytes]  # (filename, MIME type, bytes)


def message_id(workflow_id: str, event_key: str) -> str:
    """``<32 hex@professional-resolutions>``: the same for every retry of one event."""
    digest = hashlib.sha256(f"{workflow_id}\x1f{event_key}".encode()).hexdigest()[:32]
    return f"<{digest}@{MAIL_DOMAIN}>"


def thread_id(workflow_id: str) -> str:
    """A Message-ID every e-mail of a case refers to, so mail clients thread them together."""
    digest = hashlib.sha256(f"{workflow_id}\x1fcase".encode()).hexdigest()[:32]
    return f"<{digest}@{MAIL_DOMAIN}>"


def _address(person: Person) -> str:
    return formataddr((one_line(person.name), person.email), charset="utf-8")


def build_message(req: NotificationRequest, settings: Settings, people: Addressees,
                  subject: str, bodies: tuple[str, str],
                  attachments: list[Attachment]) -> Message:
    """An RFC 5322 message: stable Message-ID, text + HTML, forms and calendars attached.

    Built with the standard library's classic MIME classes: the modern ``EmailMessage`` parses
    every header it is given, which profiling showed to be most of a worker's CPU under load.
    """
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(bodies[0], "plain", "utf-8"))
    body.attach(MIMEText(bodies[1], "html", "utf-8"))
    if attachments:
        msg: Message = MIMEMultipart("mixed")
        msg.attach(body)
        for filename, mime, data in attachments:
            subtype = mime.split("/")[1]
            part = MIMEText(data.decode("utf-8"), subtype, "utf-8")
            if subtype == "calendar":
                part.set_param("method", "PUBLISH")
            part.add_header("Content-Disposition", "attachment", filename=filename)
            msg.attach(part)
    else:
        msg = body
    msg["Subject"] = Header(subject, "utf-8")
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(_address(r.person) for r in people.to)
    if people.cc:
        msg["Cc"] = ", ".join(_address(r.person) for r in people.cc)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id(req.workflow_id, req.event_key)
    msg["References"] = thread_id(req.workflow_id)
    # Machine-readable, personal-data-free headers for mail filters, the SMTP sink and tests.
    msg["X-Resolutions-Case"] = req.workflow_id
    msg["X-Resolutions-Event"] = req.event
    msg["X-Resolutions-Event-Key"] = req.event_key
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if req.event == "immediate_risk":
        msg["Importance"] = "High"
        msg["X-Priority"] = "1 (Highest)"
    return msg


def _ics_filename(d: DeadlineState) -> str:
    return "deadline-" + re.sub(r"[^A-Za-z0-9_-]+", "-", d.key).strip("-") + ".ics"


def build_attachments(req: NotificationRequest, link: str, template_dir: Path | None = None,
                      addresses: dict[str, str] | None = None) -> list[Attachment]:
    """(filename, MIME type, bytes) for each form and each deadline's calendar entry."""
    return (form_attachments(req, template_dir, addresses)
            + calendar_attachments(req, link))


def form_attachments(req: NotificationRequest, template_dir: Path | None = None,
                     addresses: dict[str, str] | None = None) -> list[Attachment]:
    """Each partnership form the e-mail carries, the same for every recipient."""
    return [(form_filename(kind, req.state.reference), "text/html",
             render_case_form(kind, protocol=req.protocol, case=req.case, state=req.state,
                              timeline=req.timeline, template_dir=template_dir,
                              addresses=addresses)
             .encode("utf-8"))
            for kind in dict.fromkeys(req.attach_forms)]


def calendar_attachments(req: NotificationRequest, link: str) -> list[Attachment]:
    """Each deadline's calendar entry, linking to ``link``: the recipient's own personal link
    (the messages are built per link), so the entry opens the case for them."""
    files: list[Attachment] = []
    now = datetime.now(UTC)
    for d in calendar_deadlines(req):
        assert d.due is not None
        changes = sum(1 for e in req.timeline if e.details.get("deadline") == d.key
                      and e.kind in ("timescale_agreed", "timescale_extended"))
        stage = f"stage {d.stage}: " if d.stage else ""
        event = CalendarEvent(
            uid=deadline_uid(req.workflow_id, d.key), start=d.due, sequence=changes,
            summary=one_line(f"{tag(req)}: {stage}{d.what} (due)"),
            description=f"{d.who}: {d.what}.\nTimescale: {d.timescale}.\nRule: {d.source}.\n"
                        f"Case page: {link}",
            url=link)
        files.append((_ics_filename(d), "text/calendar", render_calendar([event], now)
                      .encode("utf-8")))
    return files
