"""The e-mail activities: resolve, render and send one case event's e-mail by SMTP.

``send_case_email`` takes a small :class:`MailEvent` (ids, role keys, the event) and reads the
case record with one query of the case; ``send_notification`` takes the whole record, as
e-mails scheduled before issue 14 did, and is kept for the cases whose histories hold them.

One SMTP message per personal link; which recipients the relay has accepted is kept in the
activity's heartbeat details, so a retry on any host sends only to the rest
(:mod:`activities.progress`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email.message import Message
from email.utils import parseaddr
from pathlib import Path

import aiosmtplib
from temporalio import activity

from activities.mail.addressing import Addressees, Recipient, resolve_addressees
from activities.mail.content import build_context, render_bodies, subject_for
from activities.mail.message import (
    build_message,
    calendar_attachments,
    form_attachments,
    message_id,
)
from activities.progress import SendProgress
from infra.contacts import contact_address
from infra.links import SENDING_RUN
from infra.settings import Settings
from infra.smtp import connection_options
from protocols.loader import ProtocolError, load_protocol
from protocols.messages import (
    CaseInput,
    MailEvent,
    MailRecord,
    NotificationRequest,
    NotificationResult,
    Person,
)
from protocols.schema import Protocol

# (case id, recipient, role key, who holds that role by the protocol) -> personal link
LinkBuilder = Callable[[str, Person, str, str | None], str]
SMTP_TIMEOUT = 30.0


class NotificationActivities:
    """E-mail for case events, sent through the deployment's SMTP server."""

    def __init__(self, settings: Settings, link_builder: LinkBuilder | None = None,
                 template_dir: Path | None = None) -> None:
        self.settings = settings
        self.link_builder = link_builder
        self.template_dir = template_dir
        self._protocols: dict[str, Protocol] = {}

    def link_for(self, workflow_id: str, recipient: Recipient | None) -> str:
        """The recipient's personal link to the case page, or the plain case page."""
        if self.link_builder is not None and recipient is not None:
            return self.link_builder(workflow_id, recipient.person, recipient.key,
                                     recipient.held_by)
        return f"{self.settings.public_url.rstrip('/')}/cases/{workflow_id}"

    async def with_protocol(self, req: NotificationRequest) -> NotificationRequest:
        """Fill in the case's own protocol: the file of that id if its content hash matches,
        else (the file changed since the case began) the protocol frozen into the case."""
        if req.protocol is not None:
            return req
        protocol = self._protocols.get(req.protocol_hash)
        if protocol is None:
            try:
                candidate = load_protocol(req.protocol_id)
            except ProtocolError:
                candidate = None
            if candidate is not None and candidate.content_hash() == req.protocol_hash:
                protocol = candidate
            else:
                handle = activity.client().get_workflow_handle(req.workflow_id)
                protocol = (await handle.query("case_input", result_type=CaseInput)).protocol
            self._protocols[req.protocol_hash] = protocol
        return req.model_copy(update={"protocol": protocol})

    @activity.defn(name="send_notification")
    async def send_notification(self, req: NotificationRequest) -> NotificationResult:
        """Resolve, render and send one event's e-mail; SMTP errors raise so Temporal retries."""
        progress = SendProgress()
        beating = asyncio.create_task(progress.beat_until_cancelled())
        try:
            return await self._send_notification(req, progress)
        finally:
            beating.cancel()

    @activity.defn(name="send_case_email")
    async def send_case_email(self, event: MailEvent) -> NotificationResult:
        """Send one event's e-mail, reading the case record by one query of the case.

        Every attempt sends the same message: the workflow keeps the record as it stood at the
        event (``mail_record``) until this activity has completed, and the Message-ID, the
        subject and the addressees come from the event, its key and that record, never from
        the case as it is when an attempt runs. Only if the case no longer holds the event's
        record (``as_of_event`` False: the activity outlived the run that scheduled it) is the
        e-mail rendered from the case as it stands, which the log says.
        """
        handle = activity.client().get_workflow_handle(event.workflow_id)
        record = await handle.query("mail_record", event.event_key, result_type=MailRecord)
        if not record.as_of_event:
            activity.logger.warning("notification %s (%s): rendered from the case as it "
                                    "stands", event.event, event.event_key)
        req = NotificationRequest(
            **event.model_dump(exclude={"first_run_id", "extra"}),
            extra={**event.extra, **record.extra}, case=record.case, state=record.state,
            timeline=record.timeline)
        token = SENDING_RUN.set(event.first_run_id)
        try:
            return await self.send_notification(req)
        finally:
            SENDING_RUN.reset(token)

    async def _send_notification(self, req: NotificationRequest,
                                 progress: SendProgress) -> NotificationResult:
        req = await self.with_protocol(req)
        mid = message_id(req.workflow_id, req.event_key)
        subject = subject_for(req)
        people = resolve_addressees(req, self.settings)
        if not people.everyone:
            activity.logger.warning("notification %s (%s): nobody has an address; %d missing",
                                    req.event, mid, len(people.missing))
            return NotificationResult(message_id=mid, missing=people.missing, subject=subject)
        batches = await asyncio.to_thread(self._compose, req, people, subject)
        await self._deliver(batches, progress)
        activity.logger.info("notification %s sent: message %s, %d recipient(s), %d missing",
                             req.event, mid, len(people.everyone), len(people.missing))
        return NotificationResult(message_id=mid, sent_to=[r.address for r in people.everyone],
                                  missing=people.missing, subject=subject)

    def _compose(self, req: NotificationRequest, people: Addressees,
                 subject: str) -> list[tuple[Message, list[str]]]:
        """Render and build the messages (CPU work, run in a thread so the worker's event loop
        keeps serving workflow tasks). One per distinct personal link: links are never shown
        to anyone else; attachments are rendered once and shared."""
        context = build_context(req, people.missing, people.held)
        addresses = {c: contact_address(req.protocol, c, self.settings)
                     for c in req.protocol.contacts}
        forms = form_attachments(req, self.template_dir, addresses)
        groups: dict[str, list[Recipient]] = {}
        for recipient in people.everyone:
            groups.setdefault(self.link_for(req.workflow_id, recipient), []).append(recipient)
        batches = []
        for link, members in groups.items():
            bodies = render_bodies(req, {**context, "link": link}, self.template_dir)
            # Each group's calendar entries open the case through its own personal link.
            files = forms + calendar_attachments(req, link)
            message = build_message(req, self.settings, people, subject, bodies, files)
            batches.append((message, [r.address for r in members]))
        return batches

    async def _deliver(self, batches: list[tuple[Message, list[str]]],
                       progress: SendProgress) -> None:
        s = self.settings
        sender = parseaddr(s.mail_from)[1] or s.mail_from
        smtp = aiosmtplib.SMTP(**connection_options(s), timeout=SMTP_TIMEOUT)  # infra.smtp
        # A retry (after a refusal, or a worker that died mid-send) sends only to the recipients
        # no earlier attempt handed to the relay: see activities/progress.py.
        pending = [(m, left) for m, r in batches
                   if (left := progress.pending(str(m["Message-ID"]), r))]
        if not pending:
            return
        async with smtp:
            for n, (message, recipients) in enumerate(pending, start=1):
                progress.check()
                refused, _ = await smtp.send_message(message, sender=sender,
                                                     recipients=recipients)
                progress.accepted(str(message["Message-ID"]),
                                  [r for r in recipients if r not in refused])
                if refused:
                    await progress.record()
                    codes = sorted({str(r.code) for r in refused.values()})
                    raise aiosmtplib.SMTPResponseException(
                        int(codes[0]), f"{len(refused)} of {len(recipients)} recipient(s) "
                                       f"refused (codes {', '.join(codes)})")
                if n < len(pending):  # the last batch is recorded by the activity's completion
                    at = await progress.record()
                    activity.logger.debug("e-mail %s: %d recipient(s) recorded as sent at %.6f",
                                          message["Message-ID"], len(progress.done), at)
